import {
  MAX_VMDESC_DEPTH,
  MAX_VMDESC_VALUES,
  RecordType,
  StreamFormatError,
  StreamTruncatedError,
  type QemuFileReader,
  type VmdescDevice,
  type VmdescField,
  type VmdescStruct,
} from '@savevm/stream';
import { decodeFromReader, type BodyDecoder, type BodySource } from './body-source.js';

/** A decoded value: integers, booleans, hex bytes, nested descriptions, or arrays of them. */
export type DecodedValue = number | bigint | boolean | string | DecodedStruct | DecodedValue[];

/** One field as decoded from a FULL body. */
export interface DecodedField {
  /** Field name from the vmdesc. */
  readonly name: string;
  /** VMStateInfo name from the vmdesc. */
  readonly type: string;
  /** Stream offset of the field's first byte. */
  readonly offset: number;
  /** Bytes the field took (all elements). */
  readonly size: number;
  /** The value (an array for `array_len` fields). */
  readonly value: DecodedValue;
}

/** A decoded description (a nested struct or a subsection). */
export interface DecodedStruct {
  /** The VMStateDescription name. */
  readonly vmsdName: string;
  /** Its fields. */
  readonly fields: DecodedField[];
  /** Its subsections as they appeared in the stream (one shared empty list when there are none). */
  readonly subsections: readonly DecodedStruct[];
}

/** The subsections of every description that has none. */
const NO_SUBSECTIONS: readonly DecodedStruct[] = Object.freeze([]);

const INTEGER_TYPE = /^(u?int)(8|16|32|64)\b/;

/**
 * What one body's decoding may still do: values left to decode and how deep it may nest.
 * A description comes from the stream, and a field of size 0 costs no byte, so the bytes
 * alone do not bound the work (see `docs/design/hostile-input.md`, "Budgets").
 */
export class DecodeBudget {
  /** @param values values left to decode (default the vmdesc's own bound); @param depth nesting left */
  constructor(
    private values = MAX_VMDESC_VALUES,
    private depth = MAX_VMDESC_DEPTH,
  ) {}

  /** Takes one value, or throws (TOO_LARGE) at `offset` naming `what` (then `name`, when given). */
  take(offset: number, what: string, name?: string): void {
    if (--this.values < 0) {
      throw new StreamFormatError('TOO_LARGE', offset, `vmdesc: ${whatNamed(what, name)}: the description asks for more than its budget of values`);
    }
  }

  /** Goes one level deeper, or throws (TOO_LARGE) beyond the depth limit; `leave` comes back. */
  enter(offset: number, what: string, name?: string): void {
    if (this.depth <= 0) throw new StreamFormatError('TOO_LARGE', offset, `vmdesc: ${whatNamed(what, name)}: nested deeper than ${MAX_VMDESC_DEPTH}`);
    this.depth--;
  }

  /** Comes back from an {@link enter}. */
  leave(): void {
    this.depth++;
  }
}

function whatNamed(what: string, name: string | undefined): string {
  return name === undefined ? what : `${what} ${name}`;
}

/** Whether a VMStateInfo name is read as an integer: 0 no, 1 unsigned, 2 signed. */
function integerKind(type: string): 0 | 1 | 2 {
  const c = type.charCodeAt(0);
  if (c !== 0x75 /* u */ && c !== 0x69 /* i */) return 0;
  const m = INTEGER_TYPE.exec(type);
  if (m === null) return 0;
  return m[1] === 'int' ? 2 : 1;
}

/** The integer of `size` bytes at `b[at]` (`kind` from {@link integerKind}). */
function integerAt(b: Buffer, at: number, size: 1 | 2 | 4 | 8, kind: 1 | 2): number | bigint {
  const signed = kind === 2;
  switch (size) {
    case 1: {
      const v = b[at] as number;
      return signed && v >= 0x80 ? v - 0x100 : v;
    }
    case 2: {
      const v = b.readUInt16BE(at);
      return signed && v >= 0x8000 ? v - 0x10000 : v;
    }
    case 4: {
      const v = b.readUInt32BE(at);
      return signed ? v | 0 : v;
    }
    case 8: {
      const v = b.readBigUInt64BE(at);
      return signed ? BigInt.asIntN(64, v) : v;
    }
  }
}

/** Whether `f` is a bool QEMU's way (1, 2, 4 or 8 bytes), read by {@link boolDecoder}. */
function isSizedBool(f: VmdescField): boolean {
  const size = f.size;
  return f.type === 'bool' && (size === 1 || size === 2 || size === 4 || size === 8);
}

/** A bool: `size` bytes must be there, the first one is read (as the decoder always did). */
function* boolDecoder(source: BodySource, f: VmdescField): BodyDecoder<boolean> {
  const size = f.size;
  source.window(size);
  yield;
  const seen = source.end - source.at;
  if (seen < size) throw new StreamTruncatedError(source.offset + seen, `field ${f.name}`);
  source.take(1, 'field', f.name);
  yield;
  return source.buf[source.at] !== 0;
}

/** The value of scalar `f` in `b[at, end)` (`f.size` bytes): an integer, or hex. */
function scalarAt(b: Buffer, at: number, end: number, f: VmdescField): DecodedValue {
  const size = f.size;
  if (size === 1 || size === 2 || size === 4 || size === 8) {
    const kind = integerKind(f.type);
    if (kind !== 0) return integerAt(b, at, size, kind);
  }
  return b.toString('hex', at, end);
}

/** The value of a scalar the source just took (`f.size` bytes): an integer, or hex. */
function takenScalar(source: BodySource, f: VmdescField): DecodedValue {
  return scalarAt(source.buf, source.at, source.end, f);
}

/** Whether `f` holds fields of its own: a struct, or a `tmp` field. */
function isNested(f: VmdescField): boolean {
  return (f.type === 'struct' && f.struct !== undefined) || f.fields !== undefined;
}

function* elementDecoder(source: BodySource, f: VmdescField, budget: DecodeBudget): BodyDecoder<DecodedValue> {
  const offset = source.offset;
  budget.take(offset, 'field', f.name);
  if (f.type === 'struct' && f.struct) {
    const s = f.struct;
    budget.enter(offset, 'field', f.name);
    try {
      return yield* structDecoder(source, s.vmsd_name, s.fields, s.subsections, budget);
    } finally {
      budget.leave();
    }
  }
  if (f.fields) {
    // A `tmp` field: its own fields, in place.
    budget.enter(offset, 'field', f.name);
    try {
      return yield* structDecoder(source, f.vmsd_name ?? f.name, f.fields, undefined, budget);
    } finally {
      budget.leave();
    }
  }
  if (isSizedBool(f)) return yield* boolDecoder(source, f);
  source.take(f.size, 'field', f.name);
  yield;
  return takenScalar(source, f);
}

/** Decodes a field list in stream order (the generator under {@link decodeFields}). */
export function* fieldsDecoder(source: BodySource, fields: readonly VmdescField[], budget: DecodeBudget): BodyDecoder<DecodedField[]> {
  // Exactly as long as the list (a pushed-to array keeps spare room): the fields of every
  // FULL section stay in the inspection's result.
  const out = new Array<DecodedField>(fields.length);
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as VmdescField;
    const offset = source.offset;
    let value: DecodedValue;
    if (f.array_len !== undefined) {
      const items: DecodedValue[] = [];
      for (let k = 0; k < f.array_len; k++) items.push(yield* elementDecoder(source, f, budget));
      value = items;
    } else if (!isNested(f) && !isSizedBool(f)) {
      // The common case, a plain scalar, read here rather than by a generator of its own.
      budget.take(offset, 'field', f.name);
      source.take(f.size, 'field', f.name);
      yield;
      value = takenScalar(source, f);
    } else {
      value = yield* elementDecoder(source, f, budget);
    }
    out[i] = { name: f.name, type: f.type, offset, size: source.offset - offset, value };
  }
  return out;
}

function* subsectionsDecoder(source: BodySource, subs: readonly VmdescStruct[], budget: DecodeBudget): BodyDecoder<readonly DecodedStruct[]> {
  if (subs.length === 0) return NO_SUBSECTIONS;
  const out: DecodedStruct[] = [];
  for (const sub of subs) {
    const at = source.offset;
    source.take(1, 'a subsection marker');
    yield;
    const marker = source.buf[source.at] as number;
    if (marker !== RecordType.SUBSECTION) {
      throw new StreamFormatError('BAD_BODY', at, `expected subsection ${sub.vmsd_name}, found byte 0x${marker.toString(16)}`);
    }
    source.take(1, 'a subsection name');
    yield;
    const length = source.buf[source.at] as number;
    source.take(length, 'a subsection name');
    yield;
    const name = source.buf.toString('utf8', source.at, source.end);
    if (name !== sub.vmsd_name) throw new StreamFormatError('BAD_BODY', at, `expected subsection ${sub.vmsd_name}, found ${name}`);
    source.take(4, 'a subsection version');
    yield;
    budget.take(at, 'subsection', sub.vmsd_name);
    budget.enter(at, 'subsection', sub.vmsd_name);
    try {
      out.push(yield* structDecoder(source, name, sub.fields, sub.subsections, budget));
    } finally {
      budget.leave();
    }
  }
  return out;
}

/** A description's fields, then the subsections the vmdesc says were sent. */
function* structDecoder(
  source: BodySource,
  vmsdName: string,
  fields: readonly VmdescField[],
  subsections: readonly VmdescStruct[] | undefined,
  budget: DecodeBudget,
): BodyDecoder<DecodedStruct> {
  const decoded = yield* fieldsDecoder(source, fields, budget);
  return { vmsdName, fields: decoded, subsections: subsections === undefined ? NO_SUBSECTIONS : yield* subsectionsDecoder(source, subsections, budget) };
}

/**
 * Decodes a FULL section body field by field from its vmdesc entry (the generator under
 * {@link decodeDeviceBody}).
 * @param name the section's idstr, which names a description without a `vmsd_name` (by
 *   default the entry's `name`; see `VmdescLookup.find` for when they differ)
 */
export function* deviceBodyDecoder(source: BodySource, device: VmdescDevice, name = device.name): BodyDecoder<DecodedStruct> {
  const budget = new DecodeBudget();
  if (!device.fields) {
    if (device.size === undefined) throw new StreamFormatError('BAD_VMDESC', source.offset, `vmdesc entry ${name} has neither fields nor size`);
    return { vmsdName: name, fields: yield* fieldsDecoder(source, [{ name: 'data', type: 'buffer', size: device.size }], budget), subsections: NO_SUBSECTIONS };
  }
  return yield* structDecoder(source, device.vmsd_name ?? name, device.fields, device.subsections, budget);
}

/** Whether every field of `fields` is a plain scalar: no array, no nesting, no bool read QEMU's way. */
function isFlat(fields: readonly VmdescField[]): boolean {
  if (fields.length > MAX_VMDESC_VALUES) return false;
  for (const f of fields) if (f.array_len !== undefined || isNested(f) || isSizedBool(f)) return false;
  return true;
}

/**
 * A FULL body over the stream's bytes in memory when its vmdesc entry is a flat list of
 * scalars (no array, no nesting, no bool read QEMU's way, no subsection, or the `size` of an
 * old-style device): decoded in one loop, to what {@link deviceBodyDecoder} gives, without
 * its generators (most entries are flat; see `docs/design/hostile-input.md`, "Cost"). The
 * body's size is the sum of its fields' sizes.
 * @param name the section's idstr (as for {@link deviceBodyDecoder})
 * @returns the body, null when the bytes end first (the generators' truncation error),
 *   undefined when the entry is not flat (decode it with the generators)
 */
export function decodeFlatDeviceBody(buf: Buffer, start: number, device: VmdescDevice, name = device.name): DecodedStruct | null | undefined {
  let vmsdName: string;
  let fields: readonly VmdescField[];
  if (device.fields) {
    if (device.subsections !== undefined && device.subsections.length > 0) return undefined;
    vmsdName = device.vmsd_name ?? name;
    fields = device.fields;
  } else {
    if (device.size === undefined) return undefined;
    vmsdName = name;
    fields = [{ name: 'data', type: 'buffer', size: device.size }];
  }
  if (!isFlat(fields)) return undefined;
  const out = new Array<DecodedField>(fields.length);
  let at = start;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as VmdescField;
    const size = f.size;
    if (size > buf.length - at) return null;
    out[i] = { name: f.name, type: f.type, offset: at, size, value: scalarAt(buf, at, at + size, f) };
    at += size;
  }
  return { vmsdName, fields: out, subsections: NO_SUBSECTIONS };
}

/**
 * Decodes a field list in stream order.
 * @param budget what the decoding may still do (a fresh one per body by default)
 */
export function decodeFields(r: QemuFileReader, fields: readonly VmdescField[], budget = new DecodeBudget()): Promise<DecodedField[]> {
  return decodeFromReader(r, (source) => fieldsDecoder(source, fields, budget));
}

/**
 * Decodes a nested description (fields, then the subsections the vmdesc says were sent).
 * @param budget what the decoding may still do (a fresh one per body by default)
 */
export function decodeStruct(r: QemuFileReader, s: VmdescStruct, budget = new DecodeBudget()): Promise<DecodedStruct> {
  return decodeFromReader(r, (source) => structDecoder(source, s.vmsd_name, s.fields, s.subsections, budget));
}

/** Decodes a FULL section body field by field from its vmdesc entry. */
export function decodeDeviceBody(r: QemuFileReader, device: VmdescDevice): Promise<DecodedStruct> {
  return decodeFromReader(r, (source) => deviceBodyDecoder(source, device));
}
