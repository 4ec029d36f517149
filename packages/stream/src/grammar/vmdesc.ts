/**
 * The VMDESCRIPTION JSON QEMU writes after EOF: one entry per FULL section, describing
 * its fields (spec/qemu-stream.md §2).
 */

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

function isCount(v: unknown, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

function checkField(v: unknown, path: string): void {
  if (!isRecord(v) || typeof v.name !== 'string' || typeof v.type !== 'string' || !isCount(v.size, MAX_VMDESC_SIZE)) {
    throw new TypeError(`${path}: a field needs name, type and a size between 0 and 2^31`);
  }
  if (v.array_len !== undefined && !isCount(v.array_len, MAX_VMDESC_COUNT)) {
    throw new TypeError(`${path}: array_len must be an integer between 0 and ${MAX_VMDESC_COUNT}`);
  }
  if (v.type === 'struct' && v.struct === undefined) throw new TypeError(`${path}: a struct field needs "struct"`);
  if (v.struct !== undefined) checkStruct(v.struct, `${path}.struct`);
  if (v.fields !== undefined) checkFieldList(v.fields, `${path}.fields`);
}

function checkFieldList(v: unknown, path: string): void {
  if (!Array.isArray(v)) throw new TypeError(`${path} must be an array`);
  v.forEach((f, i) => checkField(f, `${path}[${i}]`));
}

function checkStruct(v: unknown, path: string): void {
  if (!isRecord(v) || typeof v.vmsd_name !== 'string') throw new TypeError(`${path}: needs vmsd_name`);
  checkFieldList(v.fields, `${path}.fields`);
  if (v.subsections !== undefined) {
    if (!Array.isArray(v.subsections)) throw new TypeError(`${path}.subsections must be an array`);
    v.subsections.forEach((s, i) => checkStruct(s, `${path}.subsections[${i}]`));
  }
}

/** Parses and shape-checks a VMDESCRIPTION JSON text; throws a TypeError/SyntaxError naming the problem. */
export function parseVmDescription(json: string): VmDescription {
  const doc: unknown = JSON.parse(json);
  if (!isRecord(doc) || !Array.isArray(doc.devices)) throw new TypeError('vmdesc: needs a "devices" array');
  doc.devices.forEach((d, i) => {
    if (!isRecord(d) || typeof d.name !== 'string' || typeof d.instance_id !== 'number') {
      throw new TypeError(`vmdesc.devices[${i}]: needs name and instance_id`);
    }
    if (d.size !== undefined && !isCount(d.size, MAX_VMDESC_SIZE)) throw new TypeError(`vmdesc.devices[${i}]: bad size`);
    if (d.fields !== undefined) checkFieldList(d.fields, `vmdesc.devices[${i}].fields`);
    if (d.subsections !== undefined) {
      if (!Array.isArray(d.subsections)) throw new TypeError(`vmdesc.devices[${i}].subsections must be an array`);
      d.subsections.forEach((s, j) => checkStruct(s, `vmdesc.devices[${i}].subsections[${j}]`));
    }
  });
  const pageSize = typeof doc.page_size === 'number' ? doc.page_size : 4096;
  if (doc.configuration === undefined) return { page_size: pageSize, devices: doc.devices as VmdescDevice[] };
  checkStruct(doc.configuration, 'vmdesc.configuration');
  return { configuration: doc.configuration as VmdescStruct, page_size: pageSize, devices: doc.devices as VmdescDevice[] };
}
