/**
 * The engine field for one leaf of a QEMU description: from its VMStateInfo name (the
 * vmdesc `type`), its wire size per element and its element count, the field kind that
 * reads and writes exactly those bytes (see `docs/design/qemu-vmstate.md`, "Field kinds").
 */
import type { VmStateDescription } from '../description.js';
import type { VmStateField, VmStateScalarType } from '../fields.js';

/** A state object of a description loaded from QEMU's: field key → value. */
export type QemuState = Record<string, unknown>;

const SCALAR_SIZE: Readonly<Record<VmStateScalarType, number>> = {
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  bool: 1,
};

/** Infos that are a plain integer on the wire under another name (a load-time check, a byte order note). */
const SCALAR_INFO = /^(u?int(?:8|16|32|64)|bool)(?: equal| le)?$/;

/** Infos whose bytes are one integer of their own: `timer` is the expiry time, -1 when not pending. */
const NAMED_SCALARS: Readonly<Record<string, VmStateScalarType>> = { timer: 'int64' };

/** The scalar type a leaf of `info` with `size` bytes per element is read as, if it is one. */
export function scalarTypeOf(info: string, size: number): VmStateScalarType | undefined {
  const named = NAMED_SCALARS[info];
  if (named !== undefined) return SCALAR_SIZE[named] === size ? named : undefined;
  const m = SCALAR_INFO.exec(info);
  if (m === null) return undefined;
  const type = m[1] as VmStateScalarType;
  return SCALAR_SIZE[type] === size ? type : undefined;
}

/** What one leaf or struct field is, once the dump and the vmdesc have been read. */
export interface ResolvedLeaf {
  /** Printed name. */
  readonly name: string;
  /** State key (unique in the state object). */
  readonly key: string;
  /** VMStateInfo name (`uint32`, `timer`, `buffer`, `unused_buffer`, …). */
  readonly info: string;
  /** Bytes per element on the wire. */
  readonly size: number;
  /** Elements; undefined for a single value. */
  readonly count?: number | undefined;
}

/** The engine field that carries a leaf's bytes exactly. */
export function leafField(leaf: ResolvedLeaf): VmStateField<QemuState> {
  const { name, key, info, size, count } = leaf;
  const base = { name, key, since: 0, info };
  if (info === 'unused_buffer') return { kind: 'unused', name, since: 0, info, size: size * (count ?? 1) };
  const scalar = scalarTypeOf(info, size);
  if (scalar !== undefined) {
    const element = { kind: 'scalar', type: scalar } as const;
    return count === undefined ? { ...base, kind: 'scalar', element } : { ...base, kind: 'array', element, length: count };
  }
  // Any other info (`buffer`, `pci config`, …): its bytes as they are.
  return { ...base, kind: 'buffer', size: size * (count ?? 1) };
}

/** The engine field for a nested description: one object, or a fixed array of them. */
export function structField(name: string, key: string, info: string, description: VmStateDescription<QemuState>, count?: number): VmStateField<QemuState> {
  const base = { name, key, since: 0, info };
  return count === undefined
    ? { ...base, kind: 'struct', description: description as VmStateDescription<unknown> }
    : { ...base, kind: 'array', element: { kind: 'struct', description: description as VmStateDescription<unknown> }, length: count };
}
