import { toQemuJson } from '@savevm/stream';
import type { SaveStateEntry } from '../../registry/save-state-entry.js';
import { savedVmdescOf } from '../../vmstate/vmdesc-record.js';

/** QEMU's target page size on x86, written as `page_size`. */
const PAGE_SIZE = 4096;

/** The constant start of each entry's JSON object, built once per entry. */
const prefixes = new WeakMap<SaveStateEntry, string>();

/**
 * Builds the VMDESCRIPTION JSON as FULL sections are written, laid out with QEMU's `", "`
 * and `": "` separators (docs/design/stream-format.md §2): a declarative entry as QEMU describes a
 * vmsd (`name`, `instance_id`, `vmsd_name`, `version`, `fields`, `subsections`); any
 * other as an old-style device (`name`, `instance_id`, `size`, one `data` buffer field).
 * With a machine type, the JSON opens with a `"configuration"` key describing the
 * configuration section, as QEMU 10.0 writes it.
 */
export class VmdescBuilder {
  private readonly parts: string[] = [];

  /** @param configurationMachine the machine type of the configuration section to describe; undefined: no `"configuration"` key (QEMU 7.2) */
  constructor(private readonly configurationMachine?: string) {}

  /** Adds a FULL section just written by `saveState` with a body of `size` bytes. */
  addSection(entry: SaveStateEntry, size: number): void {
    const described = savedVmdescOf(entry.handlers);
    if (described !== undefined) {
      this.parts.push(toQemuJson({ name: entry.idstr, instance_id: entry.instanceId, ...described }));
      return;
    }
    let prefix = prefixes.get(entry);
    if (prefix === undefined) {
      prefix = `{"name": ${JSON.stringify(entry.idstr)}, "instance_id": ${entry.instanceId}, "size": `;
      prefixes.set(entry, prefix);
    }
    this.parts.push(`${prefix}${size}, "fields": [{"name": "data", "type": "buffer", "size": ${size}}]}`);
  }

  /** The JSON text. */
  toJson(): string {
    const devices = `"page_size": ${PAGE_SIZE}, "devices": [${this.parts.join(', ')}]}`;
    const machine = this.configurationMachine;
    if (machine === undefined) return `{${devices}`;
    // The configuration vmsd's fields: be32 length, then the name's bytes (no subsection is written).
    const configuration = toQemuJson({
      vmsd_name: 'configuration',
      version: 1,
      fields: [
        { name: 'len', type: 'uint32', size: 4 },
        { name: 'name', type: 'buffer', size: Buffer.byteLength(machine, 'latin1') },
      ],
    });
    return `{"configuration": ${configuration}, ${devices}`;
  }
}
