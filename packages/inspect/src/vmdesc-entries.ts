/**
 * The entries of a vmdesc that {@link scanVmdesc} checked, each parsed only when a FULL
 * section asks for it (see `docs/design/hostile-input.md`, "Cost").
 */
import type { VmdescDevice } from '@savevm/stream';
import type { VmdescTable } from './vmdesc-scan.js';

/** Finds a FULL section's vmdesc entry by its idstr and instance id. */
export interface VmdescLookup {
  /**
   * The entry describing section `idstr`, instance `instanceId`, if any: what it says of the
   * body. Its `name` and `instance_id` may be those of an earlier entry that describes the
   * body in the same words (one object for 100,000 devices of one kind), so a caller names
   * the body by the section's idstr, not by the entry's `name`.
   */
  find(idstr: string, instanceId: number): VmdescDevice | undefined;
}

/**
 * A checked vmdesc's entries, found as `VmdescIndex` finds them in the parsed document —
 * the entry after the last one found first, then (built at the first miss) a map in which
 * a later entry for a section replaces an earlier one — but over the table of where each
 * entry is: only the entry found is parsed (`JSON.parse` of its own text). An entry whose
 * text after its `name` and `instance_id` the scan found to be the same bytes as an earlier
 * one's (as for 100,000 devices of one kind) is that one, parsed once and returned as it is
 * (see {@link VmdescLookup.find}: no object per section). None of the objects it returns is
 * changed.
 */
export class VmdescEntries implements VmdescLookup {
  /** Position of the entry tried first. */
  private next = 0;
  /** Positions by name, then instance id; built at the first miss. */
  private byName: Map<string, Map<number, number>> | undefined;
  /** The last template entry parsed (see `VmdescTable.templates`), and its index. */
  private template: VmdescDevice | undefined;
  private templateIndex = -1;

  /**
   * @param json the vmdesc's JSON bytes (the table's offsets are in them)
   * @param table what the scan found
   */
  constructor(
    private readonly json: Buffer,
    private readonly table: VmdescTable,
  ) {}

  /** The entry describing section `idstr`, instance `instanceId`, if any. */
  find(idstr: string, instanceId: number): VmdescDevice | undefined {
    const at = this.next;
    if (at < this.table.count && this.table.instanceIds[at] === instanceId && this.nameIs(at, idstr)) {
      this.next = at + 1;
      return this.entry(at);
    }
    const found = this.positions().get(idstr)?.get(instanceId);
    if (found === undefined) return undefined;
    this.next = found + 1;
    return this.entry(found);
  }

  /** Whether entry `i`'s name is `idstr`. */
  private nameIs(i: number, idstr: string): boolean {
    const { nameStarts, nameEnds, plainNames } = this.table;
    const s = (nameStarts[i] as number) + 1;
    const e = (nameEnds[i] as number) - 1;
    if (plainNames[i] !== 1) return this.name(i) === idstr;
    if (e - s !== idstr.length) return false;
    const json = this.json;
    for (let k = 0; k < idstr.length; k++) if (json[s + k] !== idstr.charCodeAt(k)) return false;
    return true;
  }

  /** Entry `i`'s name, decoded. */
  private name(i: number): string {
    const s = this.table.nameStarts[i] as number;
    const e = this.table.nameEnds[i] as number;
    if (this.table.plainNames[i] === 1) return this.json.toString('latin1', s + 1, e - 1);
    return JSON.parse(this.json.toString('utf8', s, e)) as string;
  }

  /** Entry `i`, or the earlier entry whose text after `name` and `instance_id` is the same. */
  private entry(i: number): VmdescDevice {
    const t = this.table.templates[i] as number;
    if (t < 0) return this.parse(i);
    if (t !== this.templateIndex || this.template === undefined) {
      this.template = this.parse(t);
      this.templateIndex = t;
    }
    return this.template;
  }

  /** Entry `i`, parsed from its own text. */
  private parse(i: number): VmdescDevice {
    return JSON.parse(this.json.toString('utf8', this.table.starts[i], this.table.ends[i])) as VmdescDevice;
  }

  private positions(): Map<string, Map<number, number>> {
    if (this.byName !== undefined) return this.byName;
    const byName = new Map<string, Map<number, number>>();
    for (let i = 0; i < this.table.count; i++) {
      const name = this.name(i);
      let instances = byName.get(name);
      if (instances === undefined) byName.set(name, (instances = new Map()));
      instances.set(this.table.instanceIds[i] as number, i);
    }
    this.byName = byName;
    return byName;
  }
}
