/**
 * The field kinds of a declarative description and the typed factories that make them.
 * A field names a property of the device's state object (`key`) and says how it is laid
 * out on the wire; the factories check at compile time that the property has the right
 * type (numbers for 8–32-bit integers, bigints for 64-bit ones, booleans, byte buffers,
 * arrays, nested objects).
 */
import type { VmStateDescription } from './description.js';

/** QEMU's integer VMStateInfo names, which are also the vmdesc `type`. */
export type VmStateIntegerType = 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64';

/** A scalar's VMStateInfo name. */
export type VmStateScalarType = VmStateIntegerType | 'bool';

/**
 * One scalar element: an integer or a bool. `T` is the JavaScript type it maps to
 * (`number`, `bigint` or `boolean`); it exists only at compile time.
 */
export interface VmStateScalarElement<T> {
  /** Discriminant. */
  readonly kind: 'scalar';
  /** The VMStateInfo name. */
  readonly type: VmStateScalarType;
  /** Compile-time marker of the element's JavaScript type; never set. */
  readonly valueType?: T;
}

/** One nested-description element: an object laid out by its own description. */
export interface VmStateStructElement<T> {
  /** Discriminant. */
  readonly kind: 'struct';
  /** The nested description. */
  readonly description: VmStateDescription<T>;
}

/** An element of an array field (or of a single-value field). */
export type VmStateElement<T> = VmStateScalarElement<T> | VmStateStructElement<T>;

/** What every field has. */
export interface VmStateFieldBase<S> {
  /** The name written in the vmdesc (defaults to the key). */
  readonly name: string;
  /** First description version whose stream carries this field (QEMU's field `version_id`; 0 = always). */
  readonly since: number;
  /**
   * QEMU's VMStateInfo name when it is not the element's own type (`timer`, `pci config`,
   * `int32 equal`, …): the vmdesc `type` written for the field. Descriptions loaded from
   * QEMU's own (see `docs/design/qemu-vmstate.md`) set it; the bytes do not depend on it.
   */
  readonly info?: string;
  /** Compile-time marker of the state type; never set. */
  readonly stateType?: S;
}

/** A single scalar (`uint8` … `int64`, `bool`). */
export interface VmStateScalarField<S> extends VmStateFieldBase<S> {
  /** Discriminant. */
  readonly kind: 'scalar';
  /** The state property. */
  readonly key: string;
  /** The scalar's kind. */
  readonly element: VmStateScalarElement<unknown>;
}

/** A nested object laid out by its own description (QEMU `VMSTATE_STRUCT`). */
export interface VmStateStructField<S> extends VmStateFieldBase<S> {
  /** Discriminant. */
  readonly kind: 'struct';
  /** The state property holding the nested object. */
  readonly key: string;
  /** The nested description. */
  readonly description: VmStateDescription<unknown>;
}

/** A byte buffer of a fixed size (QEMU `VMSTATE_BUFFER`). */
export interface VmStateBufferField<S> extends VmStateFieldBase<S> {
  /** Discriminant. */
  readonly kind: 'buffer';
  /** The state property (a `Uint8Array` of exactly `size` bytes). */
  readonly key: string;
  /** Its size in bytes. */
  readonly size: number;
}

/** A byte buffer whose length is the value of an earlier integer field (QEMU `VMSTATE_VBUFFER`). */
export interface VmStateVarBufferField<S> extends VmStateFieldBase<S> {
  /** Discriminant. */
  readonly kind: 'vbuffer';
  /** The state property (a `Uint8Array`). */
  readonly key: string;
  /** The key of the integer field holding the length. */
  readonly lengthFrom: string;
  /** The largest length accepted on load (and on save). */
  readonly maxLength: number;
}

/** Bytes that are sent as zeros and skipped on load (QEMU `VMSTATE_UNUSED`). */
export interface VmStateUnusedField<S> extends VmStateFieldBase<S> {
  /** Discriminant. */
  readonly kind: 'unused';
  /** Number of bytes. */
  readonly size: number;
}

/** An array of a fixed number of elements (QEMU `VMSTATE_*_ARRAY`, `VMSTATE_STRUCT_ARRAY`). */
export interface VmStateArrayField<S> extends VmStateFieldBase<S> {
  /** Discriminant. */
  readonly kind: 'array';
  /** The state property (an array of exactly `length` elements). */
  readonly key: string;
  /** The element kind. */
  readonly element: VmStateElement<unknown>;
  /** Number of elements. */
  readonly length: number;
}

/** An array whose length is the value of an earlier integer field (QEMU `VMSTATE_VARRAY_*`). */
export interface VmStateVarArrayField<S> extends VmStateFieldBase<S> {
  /** Discriminant. */
  readonly kind: 'varray';
  /** The state property (an array). */
  readonly key: string;
  /** The element kind. */
  readonly element: VmStateElement<unknown>;
  /** The key of the integer field holding the element count. */
  readonly lengthFrom: string;
  /** The largest count accepted on load (and on save). */
  readonly maxLength: number;
}

/** Any field of a description over state `S`. */
export type VmStateField<S> =
  | VmStateScalarField<S>
  | VmStateStructField<S>
  | VmStateBufferField<S>
  | VmStateVarBufferField<S>
  | VmStateUnusedField<S>
  | VmStateArrayField<S>
  | VmStateVarArrayField<S>;

/** The keys of `S` whose values are of type `V` (compile-time only). */
export type KeysOfType<S, V> = { [K in keyof S]-?: S[K] extends V ? K : never }[keyof S] & string;

/** The element type of an array type (compile-time only). */
export type ElementOf<A> = A extends readonly (infer E)[] ? E : never;

/** Options every field factory takes. */
export interface VmStateFieldOptions {
  /** First version whose stream carries the field (QEMU's `_V` macros); default 0. */
  readonly since?: number;
  /** The name written in the vmdesc, when it differs from the key. */
  readonly name?: string;
}

/** Makes scalar elements for array fields: `vmstateElements.uint32()` and so on. */
export interface VmStateElementFactory {
  /** An unsigned byte, as a number. */
  uint8(): VmStateScalarElement<number>;
  /** A big-endian unsigned 16-bit value, as a number. */
  uint16(): VmStateScalarElement<number>;
  /** A big-endian unsigned 32-bit value, as a number. */
  uint32(): VmStateScalarElement<number>;
  /** A big-endian unsigned 64-bit value, as a bigint. */
  uint64(): VmStateScalarElement<bigint>;
  /** A signed byte, as a number. */
  int8(): VmStateScalarElement<number>;
  /** A big-endian signed 16-bit value, as a number. */
  int16(): VmStateScalarElement<number>;
  /** A big-endian signed 32-bit value, as a number. */
  int32(): VmStateScalarElement<number>;
  /** A big-endian signed 64-bit value, as a bigint. */
  int64(): VmStateScalarElement<bigint>;
  /** One byte, 0 or 1 on save; any nonzero byte loads as true (as QEMU's `get_bool`). */
  bool(): VmStateScalarElement<boolean>;
  /** An object laid out by `description`. */
  struct<T>(description: VmStateDescription<T>): VmStateStructElement<T>;
}

function scalar<T>(type: VmStateScalarType): () => VmStateScalarElement<T> {
  const element: VmStateScalarElement<T> = Object.freeze({ kind: 'scalar', type });
  return () => element;
}

/** The element factories (see {@link VmStateElementFactory}). */
export const vmstateElements: VmStateElementFactory = Object.freeze({
  uint8: scalar<number>('uint8'),
  uint16: scalar<number>('uint16'),
  uint32: scalar<number>('uint32'),
  uint64: scalar<bigint>('uint64'),
  int8: scalar<number>('int8'),
  int16: scalar<number>('int16'),
  int32: scalar<number>('int32'),
  int64: scalar<bigint>('int64'),
  bool: scalar<boolean>('bool'),
  struct: <T>(description: VmStateDescription<T>): VmStateStructElement<T> => ({ kind: 'struct', description }),
});

/**
 * Field factories bound to one state type `S` (get them from {@link vmstateFields}).
 * Every factory takes the state property's key first; the key is also the vmdesc name
 * unless `options.name` says otherwise.
 */
export interface VmStateFieldFactory<S> {
  /** QEMU `VMSTATE_UINT8`. */
  uint8(key: KeysOfType<S, number>, options?: VmStateFieldOptions): VmStateField<S>;
  /** QEMU `VMSTATE_UINT16`. */
  uint16(key: KeysOfType<S, number>, options?: VmStateFieldOptions): VmStateField<S>;
  /** QEMU `VMSTATE_UINT32`. */
  uint32(key: KeysOfType<S, number>, options?: VmStateFieldOptions): VmStateField<S>;
  /** QEMU `VMSTATE_UINT64` (a bigint property). */
  uint64(key: KeysOfType<S, bigint>, options?: VmStateFieldOptions): VmStateField<S>;
  /** QEMU `VMSTATE_INT8`. */
  int8(key: KeysOfType<S, number>, options?: VmStateFieldOptions): VmStateField<S>;
  /** QEMU `VMSTATE_INT16`. */
  int16(key: KeysOfType<S, number>, options?: VmStateFieldOptions): VmStateField<S>;
  /** QEMU `VMSTATE_INT32`. */
  int32(key: KeysOfType<S, number>, options?: VmStateFieldOptions): VmStateField<S>;
  /** QEMU `VMSTATE_INT64` (a bigint property). */
  int64(key: KeysOfType<S, bigint>, options?: VmStateFieldOptions): VmStateField<S>;
  /** QEMU `VMSTATE_BOOL`. */
  bool(key: KeysOfType<S, boolean>, options?: VmStateFieldOptions): VmStateField<S>;
  /** QEMU `VMSTATE_BUFFER`: exactly `size` bytes. */
  buffer(key: KeysOfType<S, Uint8Array>, size: number, options?: VmStateFieldOptions): VmStateField<S>;
  /**
   * QEMU `VMSTATE_VBUFFER`: as many bytes as the integer field `lengthFrom` (declared
   * earlier) says, at most `maxLength`; a larger length from the stream is refused before
   * anything is allocated.
   */
  vbuffer(
    key: KeysOfType<S, Uint8Array>,
    lengthFrom: KeysOfType<S, number>,
    maxLength: number,
    options?: VmStateFieldOptions,
  ): VmStateField<S>;
  /** QEMU `VMSTATE_UNUSED`: `size` zero bytes on save, skipped on load. Its vmdesc name is `unused`. */
  unused(size: number, options?: VmStateFieldOptions): VmStateField<S>;
  /** QEMU `VMSTATE_STRUCT`: the object in `key`, laid out by `description` (its version is not sent). */
  struct<K extends KeysOfType<S, object>>(key: K, description: VmStateDescription<S[K]>, options?: VmStateFieldOptions): VmStateField<S>;
  /** A fixed-length array of `length` elements. */
  array<K extends KeysOfType<S, readonly unknown[]>>(
    key: K,
    element: VmStateElement<ElementOf<S[K]>>,
    length: number,
    options?: VmStateFieldOptions,
  ): VmStateField<S>;
  /**
   * An array whose element count is the integer field `lengthFrom` (declared earlier),
   * at most `maxLength`; a larger count from the stream is refused before allocating.
   */
  varray<K extends KeysOfType<S, readonly unknown[]>>(
    key: K,
    element: VmStateElement<ElementOf<S[K]>>,
    lengthFrom: KeysOfType<S, number>,
    maxLength: number,
    options?: VmStateFieldOptions,
  ): VmStateField<S>;
}

function base(key: string, options: VmStateFieldOptions | undefined): { name: string; since: number } {
  return { name: options?.name ?? key, since: options?.since ?? 0 };
}

/**
 * The field factories for state type `S`:
 * `const f = vmstateFields<MyState>(); … fields: [f.uint32('size'), f.buffer('data', 100)]`.
 */
export function vmstateFields<S>(): VmStateFieldFactory<S> {
  const scalarField =
    (element: VmStateScalarElement<unknown>) =>
    (key: string, options?: VmStateFieldOptions): VmStateField<S> => ({ kind: 'scalar', key, element, ...base(key, options) });
  const e = vmstateElements;
  return {
    uint8: scalarField(e.uint8()),
    uint16: scalarField(e.uint16()),
    uint32: scalarField(e.uint32()),
    uint64: scalarField(e.uint64()),
    int8: scalarField(e.int8()),
    int16: scalarField(e.int16()),
    int32: scalarField(e.int32()),
    int64: scalarField(e.int64()),
    bool: scalarField(e.bool()),
    buffer: (key, size, options) => ({ kind: 'buffer', key, size, ...base(key, options) }),
    vbuffer: (key, lengthFrom, maxLength, options) => ({ kind: 'vbuffer', key, lengthFrom, maxLength, ...base(key, options) }),
    unused: (size, options) => ({ kind: 'unused', size, ...base('unused', options) }),
    struct: (key, description, options) => ({
      kind: 'struct',
      key,
      description: description as VmStateDescription<unknown>,
      ...base(key, options),
    }),
    array: (key, element, length, options) => ({
      kind: 'array',
      key,
      element: element as VmStateElement<unknown>,
      length,
      ...base(key, options),
    }),
    varray: (key, element, lengthFrom, maxLength, options) => ({
      kind: 'varray',
      key,
      element: element as VmStateElement<unknown>,
      lengthFrom,
      maxLength,
      ...base(key, options),
    }),
  };
}
