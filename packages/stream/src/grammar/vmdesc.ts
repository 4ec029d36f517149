/**
 * The VMDESCRIPTION JSON QEMU writes after EOF: one entry per FULL section, describing
 * its fields (see `docs/design/hostile-input.md` for the bounds on what it may describe).
 */
import { StreamFormatError } from '../errors.js';

/** One field of a vmstate description. */
export interface VmdescField {
  /** Field name. */
  name: string;
  /** QEMU's VMStateInfo name: `uint32`, `int64`, `bool`, `buffer`, `struct`, `tmp`, … */
  type: string;
  /** Bytes per element as written (for `struct`, including its subsections). */
  size: number;
  /** Number of elements, for arrays. */
  array_len?: number;
  /** Element index, when QEMU unfolded an array into one entry per element. */
  index?: number;
  /** The nested description, for `struct` fields. */
  struct?: VmdescStruct;
  /** For `tmp` fields: the temporary description's name. */
  vmsd_name?: string;
  /** For `tmp` fields: the temporary description's version. */
  version?: number;
  /** For `tmp` fields: its fields. */
  fields?: VmdescField[];
}

/** A nested description or a subsection. */
export interface VmdescStruct {
  /** The VMStateDescription name (for subsections, `parent/sub`). */
  vmsd_name: string;
  /** Its version. */
  version: number;
  /** Its fields, in stream order. */
  fields: VmdescField[];
  /** Subsections that were sent, in stream order. */
  subsections?: VmdescStruct[];
}

/** One FULL section's description. */
export interface VmdescDevice {
  /** The section's idstr. */
  name: string;
  /** The section's instance id. */
  instance_id: number;
  /** The VMStateDescription name (absent for old-style save_state devices). */
  vmsd_name?: string;
  /** The description's version. */
  version?: number;
  /** For old-style devices: the body size. */
  size?: number;
  /** Fields, in stream order. */
  fields?: VmdescField[];
  /** Subsections that were sent. */
  subsections?: VmdescStruct[];
}

/** The whole VMDESCRIPTION document. */
export interface VmDescription {
  /**
   * The configuration section's description (`len`, `name`, subsections), which QEMU 10.0
   * writes first; absent in QEMU 7.2's.
   */
  configuration?: VmdescStruct;
  /** Target page size. */
  page_size: number;
  /** One entry per FULL section. */
  devices: VmdescDevice[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Largest element count or element size accepted from a vmdesc (it comes from the stream). */
const MAX_VMDESC_COUNT = 1 << 20;
const MAX_VMDESC_SIZE = 2 ** 31;

/**
 * The most values a whole vmdesc may describe once its arrays are unfolded (an array of
 * `array_len` structs counts `array_len` times what one struct holds): what a reader of the
 * description does is proportional to this, so it is bounded whatever the JSON's size (see
 * `docs/design/hostile-input.md`, "Budgets").
 */
export const MAX_VMDESC_VALUES = 1 << 20;
/** The deepest nesting of structs, `tmp` fields and subsections a vmdesc may have. */
export const MAX_VMDESC_DEPTH = 64;

/** A VMDESCRIPTION that does not parse, has the wrong shape, or describes too much. */
export class VmdescError extends StreamFormatError {
  /** @param offset where the vmdesc record starts (0 when parsed on its own); @param detail what is wrong */
  constructor(offset: number, detail: string, options?: { cause?: unknown }) {
    super('BAD_VMDESC', offset, `vmdescription: ${detail}`, options);
  }
}

function isCount(v: unknown, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Walks a description checking its shape; counts the values it describes and its depth. */
class VmdescChecker {
  private values = 0;

  constructor(private readonly offset: number) {}

  fail(detail: string): never {
    throw new VmdescError(this.offset, detail);
  }

  /** The values one field describes (an element's count × its array length). */
  field(v: unknown, path: string, depth: number): number {
    if (!isRecord(v) || typeof v.name !== 'string' || typeof v.type !== 'string' || !isCount(v.size, MAX_VMDESC_SIZE)) {
      this.fail(`${path}: a field needs name, type and a size between 0 and 2^31`);
    }
    if (v.array_len !== undefined && !isCount(v.array_len, MAX_VMDESC_COUNT)) {
      this.fail(`${path}: array_len must be an integer between 0 and ${MAX_VMDESC_COUNT}`);
    }
    if (v.type === 'struct' && v.struct === undefined) this.fail(`${path}: a struct field needs "struct"`);
    let element = 1;
    if (v.struct !== undefined) element += this.struct(v.struct, `${path}.struct`, depth + 1);
    if (v.fields !== undefined) element += this.fieldList(v.fields, `${path}.fields`, depth + 1);
    const count = element * ((v.array_len as number | undefined) ?? 1);
    if (count > MAX_VMDESC_VALUES) this.fail(`${path} describes ${count} values, more than the ${MAX_VMDESC_VALUES} a vmdesc may`);
    return count;
  }

  fieldList(v: unknown, path: string, depth: number): number {
    if (depth > MAX_VMDESC_DEPTH) this.fail(`${path}: nested deeper than ${MAX_VMDESC_DEPTH}`);
    if (!Array.isArray(v)) this.fail(`${path} must be an array`);
    let total = 0;
    for (let i = 0; i < v.length; i++) total += this.field(v[i], `${path}[${i}]`, depth);
    return total;
  }

  struct(v: unknown, path: string, depth: number): number {
    if (depth > MAX_VMDESC_DEPTH) this.fail(`${path}: nested deeper than ${MAX_VMDESC_DEPTH}`);
    if (!isRecord(v) || typeof v.vmsd_name !== 'string') this.fail(`${path}: needs vmsd_name`);
    return this.fieldList(v.fields, `${path}.fields`, depth) + this.subsections(v.subsections, path, depth);
  }

  subsections(v: unknown, path: string, depth: number): number {
    if (v === undefined) return 0;
    if (!Array.isArray(v)) this.fail(`${path}.subsections must be an array`);
    let total = 0;
    for (let i = 0; i < v.length; i++) total += 1 + this.struct(v[i], `${path}.subsections[${i}]`, depth + 1);
    return total;
  }

  /** Adds a top-level entry's values to the document's, refusing a total beyond the budget. */
  count(values: number, path: string): void {
    this.values += values;
    if (this.values > MAX_VMDESC_VALUES) this.fail(`${path}: the description holds more than ${MAX_VMDESC_VALUES} values`);
  }
}

/**
 * Parses and shape-checks a VMDESCRIPTION JSON text. Everything it describes is bounded: at
 * most {@link MAX_VMDESC_VALUES} values once arrays are unfolded, nested at most
 * {@link MAX_VMDESC_DEPTH} deep. Throws a {@link VmdescError} naming the problem.
 * @param json the JSON text
 * @param offset where the vmdesc record starts in its stream, for the error (default 0)
 */
export function parseVmDescription(json: string, offset = 0): VmDescription {
  const check: VmdescChecker = new VmdescChecker(offset);
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new VmdescError(offset, `not JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (!isRecord(doc) || !Array.isArray(doc.devices)) check.fail('needs a "devices" array');
  const devices: unknown[] = doc.devices;
  devices.forEach((d, i) => {
    const path = `vmdesc.devices[${i}]`;
    if (!isRecord(d) || typeof d.name !== 'string' || typeof d.instance_id !== 'number') check.fail(`${path}: needs name and instance_id`);
    if (d.size !== undefined && !isCount(d.size, MAX_VMDESC_SIZE)) check.fail(`${path}: bad size`);
    let values = 1;
    if (d.fields !== undefined) values += check.fieldList(d.fields, `${path}.fields`, 1);
    values += check.subsections(d.subsections, path, 1);
    check.count(values, path);
  });
  const pageSize = typeof doc.page_size === 'number' ? doc.page_size : 4096;
  if (doc.configuration === undefined) return { page_size: pageSize, devices: doc.devices as VmdescDevice[] };
  check.count(check.struct(doc.configuration, 'vmdesc.configuration', 1), 'vmdesc.configuration');
  return { configuration: doc.configuration as VmdescStruct, page_size: pageSize, devices: doc.devices as VmdescDevice[] };
}
