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

/**
 * Largest VMDESCRIPTION accepted, in bytes of JSON: what a parser reads (or skips) after EOF,
 * and how far back from a stream's end `inspect` looks for one (see
 * `docs/design/hostile-input.md`, "Budgets").
 */
export const MAX_VMDESC_BYTES = 64 * 1024 * 1024;
/** Largest element count (`array_len`) accepted from a vmdesc (it comes from the stream). */
export const MAX_VMDESC_COUNT = 1 << 20;
/** Largest element size (`size`) accepted from a vmdesc. */
export const MAX_VMDESC_SIZE = 2 ** 31;

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

/**
 * Walks a description checking its shape; counts the values it describes and its depth.
 * The path to what it checks (`vmdesc.devices[3].fields[0]`) is kept as segments and made
 * a string only for an error: a vmdesc has one entry per FULL section, so building every
 * path would cost more than the walk (see `docs/design/hostile-input.md`, "Cost").
 */
class VmdescChecker {
  private values = 0;
  /** Where the walk is: names (`.fields`) and indexes (`[3]`), `at[0 .. top)`. */
  private readonly at: (string | number)[] = [];
  private top = 0;

  constructor(private readonly offset: number) {}

  fail(detail: string): never {
    throw new VmdescError(this.offset, detail);
  }

  /** Fails naming the current path, then `rest`. */
  private failHere(rest: string): never {
    let path = '';
    for (const segment of this.at.slice(0, this.top)) path += typeof segment === 'number' ? `[${segment}]` : segment;
    this.fail(`${path}${rest}`);
  }

  /** The values one field describes (an element's count × its array length). */
  field(v: unknown, depth: number): number {
    if (!isRecord(v) || typeof v.name !== 'string' || typeof v.type !== 'string' || !isCount(v.size, MAX_VMDESC_SIZE)) {
      this.failHere(': a field needs name, type and a size between 0 and 2^31');
    }
    if (v.array_len !== undefined && !isCount(v.array_len, MAX_VMDESC_COUNT)) {
      this.failHere(`: array_len must be an integer between 0 and ${MAX_VMDESC_COUNT}`);
    }
    if (v.type === 'struct' && v.struct === undefined) this.failHere(': a struct field needs "struct"');
    let element = 1;
    if (v.struct !== undefined) {
      this.push('.struct');
      element += this.struct(v.struct, depth + 1);
      this.top--;
    }
    if (v.fields !== undefined) {
      this.push('.fields');
      element += this.fieldList(v.fields, depth + 1);
      this.top--;
    }
    const count = element * ((v.array_len as number | undefined) ?? 1);
    if (count > MAX_VMDESC_VALUES) this.failHere(` describes ${count} values, more than the ${MAX_VMDESC_VALUES} a vmdesc may`);
    return count;
  }

  /** The values a field list (at the current path) describes. */
  fieldList(v: unknown, depth: number): number {
    if (depth > MAX_VMDESC_DEPTH) this.failHere(`: nested deeper than ${MAX_VMDESC_DEPTH}`);
    if (!Array.isArray(v)) this.failHere(' must be an array');
    let total = 0;
    for (let i = 0; i < v.length; i++) {
      this.push(i);
      total += this.field(v[i], depth);
      this.top--;
    }
    return total;
  }

  /** The values a struct (at the current path) describes: its fields and subsections. */
  struct(v: unknown, depth: number): number {
    if (depth > MAX_VMDESC_DEPTH) this.failHere(`: nested deeper than ${MAX_VMDESC_DEPTH}`);
    if (!isRecord(v) || typeof v.vmsd_name !== 'string') this.failHere(': needs vmsd_name');
    this.push('.fields');
    const fields = this.fieldList(v.fields, depth);
    this.top--;
    return fields + this.subsections(v.subsections, depth);
  }

  /** The values the subsections of the struct at the current path describe. */
  subsections(v: unknown, depth: number): number {
    if (v === undefined) return 0;
    if (!Array.isArray(v)) this.failHere('.subsections must be an array');
    let total = 0;
    for (let i = 0; i < v.length; i++) {
      this.push('.subsections');
      this.push(i);
      total += 1 + this.struct(v[i], depth + 1);
      this.top -= 2;
    }
    return total;
  }

  /** A top-level entry: `name`, or `name[index]`, becomes the current path. */
  enter(name: string, index?: number): void {
    this.top = 0;
    this.push(name);
    if (index !== undefined) this.push(index);
  }

  private push(segment: string | number): void {
    this.at[this.top++] = segment;
  }

  /** Adds a top-level entry's values to the document's, refusing a total beyond the budget. */
  count(values: number): void {
    this.values += values;
    if (this.values > MAX_VMDESC_VALUES) this.failHere(`: the description holds more than ${MAX_VMDESC_VALUES} values`);
  }

  /** A device entry (the current path): name, instance id, size, fields and subsections. */
  device(d: unknown): void {
    if (!isRecord(d) || typeof d.name !== 'string' || typeof d.instance_id !== 'number') this.failHere(': needs name and instance_id');
    if (d.size !== undefined && !isCount(d.size, MAX_VMDESC_SIZE)) this.failHere(': bad size');
    let values = 1;
    if (d.fields !== undefined) {
      this.push('.fields');
      values += this.fieldList(d.fields, 1);
      this.top--;
    }
    values += this.subsections(d.subsections, 1);
    this.count(values);
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
  for (let i = 0; i < devices.length; i++) {
    check.enter('vmdesc.devices', i);
    check.device(devices[i]);
  }
  const pageSize = typeof doc.page_size === 'number' ? doc.page_size : 4096;
  if (doc.configuration === undefined) return { page_size: pageSize, devices: doc.devices as VmdescDevice[] };
  check.enter('vmdesc.configuration');
  check.count(check.struct(doc.configuration, 1));
  return { configuration: doc.configuration as VmdescStruct, page_size: pageSize, devices: doc.devices as VmdescDevice[] };
}
