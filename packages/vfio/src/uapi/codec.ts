/**
 * A tiny fixed-layout struct codec: little-endian fields at explicit byte offsets, as the
 * kernel lays them out on x86_64/arm64. Every VFIO struct in `structs.ts` is one of these.
 */

/** Kind of a struct field: unsigned/signed width; u64 values are bigints. */
export type FieldKind = 'u16' | 'u32' | 's32' | 'u64';

/** JS type of a field kind. */
export type FieldValue<K extends FieldKind> = K extends 'u64' ? bigint : number;

/** One field of a fixed layout. */
export interface FieldSpec {
  /** Field name as in the kernel header. */
  readonly name: string;
  /** Byte offset from the start of the struct. */
  readonly offset: number;
  /** Width and signedness. */
  readonly kind: FieldKind;
}

/** Field table → value object type. */
export type StructValue<F extends Readonly<Record<string, FieldKind>>> = {
  [P in keyof F]: FieldValue<F[P]>;
};

/** A codec for one fixed-size struct. */
export interface StructCodec<T> {
  /** Struct name as in the kernel header. */
  readonly name: string;
  /** sizeof(struct), bytes. */
  readonly size: number;
  /** The field table (names, offsets, kinds). */
  readonly fields: readonly FieldSpec[];
  /** Encodes into a new buffer of `size` bytes, or into `target` at `at`. */
  encode(value: T, target?: Uint8Array, at?: number): Uint8Array;
  /** Decodes from `source` at `at`; throws RangeError when too short. */
  decode(source: Uint8Array, at?: number): T;
}

const fieldWidth: Readonly<Record<FieldKind, number>> = { u16: 2, u32: 4, s32: 4, u64: 8 };

/** Returns a DataView over a Uint8Array's bytes. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Defines a struct codec from a field table given in declaration order with explicit offsets.
 * Offsets and the total size are checked for overlap and bounds when defined.
 */
export function defineStruct<F extends Readonly<Record<string, FieldKind>>>(
  name: string,
  size: number,
  layout: { readonly [P in keyof F]: readonly [offset: number, kind: F[P]] },
): StructCodec<StructValue<F>> {
  const fields: FieldSpec[] = Object.entries(layout).map(([fieldName, spec]) => {
    const [offset, kind] = spec as readonly [number, FieldKind];
    if (offset % fieldWidth[kind] !== 0 || offset + fieldWidth[kind] > size) {
      throw new Error(`${name}.${fieldName}: bad offset ${offset}`);
    }
    return { name: fieldName, offset, kind };
  });
  return {
    name,
    size,
    fields,
    encode(value, target, at = 0) {
      const out = target ?? new Uint8Array(size);
      if (at < 0 || at + size > out.byteLength) throw new RangeError(`${name}: buffer too small to encode`);
      const view = viewOf(out);
      const record = value as Record<string, number | bigint>;
      for (const field of fields) {
        const v = record[field.name];
        const o = at + field.offset;
        switch (field.kind) {
          case 'u16':
            view.setUint16(o, Number(v), true);
            break;
          case 'u32':
            view.setUint32(o, Number(v) >>> 0, true);
            break;
          case 's32':
            view.setInt32(o, Number(v) | 0, true);
            break;
          case 'u64':
            view.setBigUint64(o, BigInt.asUintN(64, BigInt(v ?? 0n)), true);
            break;
        }
      }
      return out;
    },
    decode(source, at = 0) {
      if (at < 0 || at + size > source.byteLength) {
        throw new RangeError(`${name}: need ${size} bytes at ${at}, have ${source.byteLength}`);
      }
      const view = viewOf(source);
      const result: Record<string, number | bigint> = {};
      for (const field of fields) {
        const o = at + field.offset;
        switch (field.kind) {
          case 'u16':
            result[field.name] = view.getUint16(o, true);
            break;
          case 'u32':
            result[field.name] = view.getUint32(o, true);
            break;
          case 's32':
            result[field.name] = view.getInt32(o, true);
            break;
          case 'u64':
            result[field.name] = view.getBigUint64(o, true);
            break;
        }
      }
      return result as StructValue<F>;
    },
  };
}
