/** The vmdesc's entries found by the section they describe (idstr and instance id). */
import type { VmDescription, VmdescDevice } from '@savevm/stream';

/**
 * The entries of a VMDESCRIPTION by the section they describe (idstr and instance id).
 *
 * QEMU writes the entries in the order it writes the FULL sections, so the entry after the
 * last one found is tried first, and taken when it names the section: comparing two strings
 * costs far less than building and searching a map of 100k entries (see
 * `docs/design/hostile-input.md`, "Cost"). Only when that guess misses is a map built (once),
 * in which a later entry for the same section replaces an earlier one (as QEMU's
 * `analyze-migration.py` reads them). So a description that names a section twice gives
 * each FULL section in order the entry at its own position, and the last one otherwise.
 */
export class VmdescIndex {
  private readonly devices: readonly VmdescDevice[];
  /** Position of the entry tried first. */
  private next = 0;
  /** Positions by idstr, then instance id; built at the first miss. */
  private byName: Map<string, Map<number, number>> | undefined;

  /** @param vmdesc the description (none: every lookup finds nothing) */
  constructor(vmdesc: VmDescription | undefined) {
    this.devices = vmdesc?.devices ?? [];
  }

  /** The entry describing section `idstr`, instance `instanceId`, if any. */
  find(idstr: string, instanceId: number): VmdescDevice | undefined {
    const at = this.next;
    const guess = this.devices[at];
    if (guess !== undefined && guess.name === idstr && guess.instance_id === instanceId) {
      this.next = at + 1;
      return guess;
    }
    const found = this.positions().get(idstr)?.get(instanceId);
    if (found === undefined) return undefined;
    this.next = found + 1;
    return this.devices[found];
  }

  private positions(): Map<string, Map<number, number>> {
    if (this.byName !== undefined) return this.byName;
    const byName = new Map<string, Map<number, number>>();
    this.devices.forEach((d, i) => {
      let instances = byName.get(d.name);
      if (instances === undefined) byName.set(d.name, (instances = new Map()));
      instances.set(d.instance_id, i);
    });
    this.byName = byName;
    return byName;
  }
}
