import {
  MAX_VMDESC_DEPTH,
  MAX_VMDESC_VALUES,
  RecordType,
  StreamFormatError,
  type QemuFileReader,
  type VmdescDevice,
  type VmdescField,
  type VmdescStruct,
} from '@savevm/stream';

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
  /** Its subsections as they appeared in the stream. */
  readonly subsections: DecodedStruct[];
}

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

  /** Takes one value, or throws (TOO_LARGE) at `offset` naming `what`. */
  take(offset: number, what: string): void {
    if (--this.values < 0) throw new StreamFormatError('TOO_LARGE', offset, `vmdesc: ${what}: the description asks for more than its budget of values`);
  }

  /** Runs `inner` one level deeper, or throws (TOO_LARGE) beyond the depth limit. */
  async nest<T>(offset: number, what: string, inner: () => Promise<T>): Promise<T> {
    if (this.depth <= 0) throw new StreamFormatError('TOO_LARGE', offset, `vmdesc: ${what}: nested deeper than ${MAX_VMDESC_DEPTH}`);
    this.depth--;
    try {
      return await inner();
    } finally {
      this.depth++;
    }
  }
}

async function decodeScalar(r: QemuFileReader, f: VmdescField, size: number): Promise<DecodedValue> {
  const integer = INTEGER_TYPE.exec(f.type);
  if ((integer || f.type === 'bool') && [1, 2, 4, 8].includes(size)) {
    await r.ensure(size, `field ${f.name}`);
    const signed = integer?.[1] === 'int';
    if (f.type === 'bool') return r.takeU8() !== 0;
    switch (size) {
      case 1: {
        const v = r.takeU8();
        return signed && v >= 0x80 ? v - 0x100 : v;
      }
      case 2: {
        const v = r.takeBe16();
        return signed && v >= 0x8000 ? v - 0x10000 : v;
      }
      case 4: {
        const v = r.takeBe32();
        return signed ? v | 0 : v;
      }
      default: {
        const v = r.takeBe64();
        return signed ? BigInt.asIntN(64, v) : v;
      }
    }
  }
  return (await r.getBytes(size, `field ${f.name}`)).toString('hex');
}

async function decodeElement(r: QemuFileReader, f: VmdescField, budget: DecodeBudget): Promise<DecodedValue> {
  budget.take(r.offset, `field ${f.name}`);
  if (f.type === 'struct' && f.struct) {
    const s = f.struct;
    return budget.nest(r.offset, `field ${f.name}`, () => decodeStruct(r, s, budget));
  }
  if (f.fields) {
    // A `tmp` field: its own fields, in place.
    const tmp = { vmsd_name: f.vmsd_name ?? f.name, version: f.version ?? 0, fields: f.fields };
    return budget.nest(r.offset, `field ${f.name}`, () => decodeStruct(r, tmp, budget));
  }
  return decodeScalar(r, f, f.size);
}

/**
 * Decodes a field list in stream order.
 * @param budget what the decoding may still do (a fresh one per body by default)
 */
export async function decodeFields(r: QemuFileReader, fields: readonly VmdescField[], budget = new DecodeBudget()): Promise<DecodedField[]> {
  const out: DecodedField[] = [];
  for (const f of fields) {
    const offset = r.offset;
    let value: DecodedValue;
    if (f.array_len !== undefined) {
      const items: DecodedValue[] = [];
      for (let i = 0; i < f.array_len; i++) items.push(await decodeElement(r, f, budget));
      value = items;
    } else {
      value = await decodeElement(r, f, budget);
    }
    out.push({ name: f.name, type: f.type, offset, size: r.offset - offset, value });
  }
  return out;
}

async function decodeSubsections(r: QemuFileReader, subs: readonly VmdescStruct[] | undefined, budget: DecodeBudget): Promise<DecodedStruct[]> {
  const out: DecodedStruct[] = [];
  for (const sub of subs ?? []) {
    const at = r.offset;
    const marker = await r.getU8('a subsection marker');
    if (marker !== RecordType.SUBSECTION) {
      throw new StreamFormatError('BAD_BODY', at, `expected subsection ${sub.vmsd_name}, found byte 0x${marker.toString(16)}`);
    }
    const name = await r.getCountedString('a subsection name');
    if (name !== sub.vmsd_name) throw new StreamFormatError('BAD_BODY', at, `expected subsection ${sub.vmsd_name}, found ${name}`);
    await r.getBe32('a subsection version');
    budget.take(at, `subsection ${sub.vmsd_name}`);
    out.push(await budget.nest(at, `subsection ${sub.vmsd_name}`, async () => ({
      vmsdName: name,
      fields: await decodeFields(r, sub.fields, budget),
      subsections: await decodeSubsections(r, sub.subsections, budget),
    })));
  }
  return out;
}

/**
 * Decodes a nested description (fields, then the subsections the vmdesc says were sent).
 * @param budget what the decoding may still do (a fresh one per body by default)
 */
export async function decodeStruct(r: QemuFileReader, s: VmdescStruct, budget = new DecodeBudget()): Promise<DecodedStruct> {
  const fields = await decodeFields(r, s.fields, budget);
  return { vmsdName: s.vmsd_name, fields, subsections: await decodeSubsections(r, s.subsections, budget) };
}

/** Decodes a FULL section body field by field from its vmdesc entry. */
export async function decodeDeviceBody(r: QemuFileReader, device: VmdescDevice): Promise<DecodedStruct> {
  if (!device.fields) {
    if (device.size === undefined) throw new StreamFormatError('BAD_VMDESC', r.offset, `vmdesc entry ${device.name} has neither fields nor size`);
    return { vmsdName: device.name, fields: await decodeFields(r, [{ name: 'data', type: 'buffer', size: device.size }]), subsections: [] };
  }
  return decodeStruct(r, {
    vmsd_name: device.vmsd_name ?? device.name,
    version: device.version ?? 0,
    fields: device.fields,
    ...(device.subsections ? { subsections: device.subsections } : {}),
  });
}
