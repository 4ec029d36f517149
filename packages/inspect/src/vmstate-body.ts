import { RecordType, StreamFormatError, type QemuFileReader, type VmdescDevice, type VmdescField, type VmdescStruct } from '@savevm/stream';

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

async function decodeElement(r: QemuFileReader, f: VmdescField): Promise<DecodedValue> {
  if (f.type === 'struct' && f.struct) return decodeStruct(r, f.struct);
  if (f.fields) {
    // A `tmp` field: its own fields, in place.
    return decodeStruct(r, { vmsd_name: f.vmsd_name ?? f.name, version: f.version ?? 0, fields: f.fields });
  }
  return decodeScalar(r, f, f.size);
}

/** Decodes a field list in stream order. */
export async function decodeFields(r: QemuFileReader, fields: readonly VmdescField[]): Promise<DecodedField[]> {
  const out: DecodedField[] = [];
  for (const f of fields) {
    const offset = r.offset;
    let value: DecodedValue;
    if (f.array_len !== undefined) {
      const items: DecodedValue[] = [];
      for (let i = 0; i < f.array_len; i++) items.push(await decodeElement(r, f));
      value = items;
    } else {
      value = await decodeElement(r, f);
    }
    out.push({ name: f.name, type: f.type, offset, size: r.offset - offset, value });
  }
  return out;
}

async function decodeSubsections(r: QemuFileReader, subs: readonly VmdescStruct[] | undefined): Promise<DecodedStruct[]> {
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
    out.push({ vmsdName: name, fields: await decodeFields(r, sub.fields), subsections: await decodeSubsections(r, sub.subsections) });
  }
  return out;
}

/** Decodes a nested description (fields, then the subsections the vmdesc says were sent). */
export async function decodeStruct(r: QemuFileReader, s: VmdescStruct): Promise<DecodedStruct> {
  const fields = await decodeFields(r, s.fields);
  return { vmsdName: s.vmsd_name, fields, subsections: await decodeSubsections(r, s.subsections) };
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
