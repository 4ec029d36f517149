/**
 * Scalars on the wire: QEMU's integer and bool VMStateInfos (big-endian, fixed size),
 * with the range checks that keep a wrong JavaScript value from being silently wrapped.
 */
import type { QemuFileWriter } from '@savevm/stream';
import type { VmStateScalarType } from './fields.js';

/** Size in bytes and signedness of a scalar type. */
interface ScalarLayout {
  readonly size: 1 | 2 | 4 | 8;
  readonly signed: boolean;
}

const LAYOUT: Readonly<Record<VmStateScalarType, ScalarLayout>> = {
  uint8: { size: 1, signed: false },
  uint16: { size: 2, signed: false },
  uint32: { size: 4, signed: false },
  uint64: { size: 8, signed: false },
  int8: { size: 1, signed: true },
  int16: { size: 2, signed: true },
  int32: { size: 4, signed: true },
  int64: { size: 8, signed: true },
  bool: { size: 1, signed: false },
};

/** Bytes a scalar of `type` takes on the wire. */
export function scalarSize(type: VmStateScalarType): number {
  return LAYOUT[type].size;
}

/**
 * Why `value` cannot be written as `type`, or undefined when it can.
 * 8–32-bit integers are numbers, 64-bit ones bigints, bools booleans.
 */
export function scalarProblem(type: VmStateScalarType, value: unknown): string | undefined {
  const { size, signed } = LAYOUT[type];
  if (type === 'bool') return typeof value === 'boolean' ? undefined : `expected a boolean, got ${describe(value)}`;
  const bits = BigInt(size * 8);
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (size === 8) {
    if (typeof value !== 'bigint') return `expected a bigint, got ${describe(value)}`;
    return value < min || value > max ? `${value} is outside ${type}` : undefined;
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) return `expected an integer number, got ${describe(value)}`;
  return value < Number(min) || value > Number(max) ? `${value} is outside ${type}` : undefined;
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/** Writes a scalar that {@link scalarProblem} accepted. */
export function putScalar(f: QemuFileWriter, type: VmStateScalarType, value: unknown): void {
  switch (LAYOUT[type].size) {
    case 1:
      f.putU8(type === 'bool' ? (value ? 1 : 0) : (value as number));
      return;
    case 2:
      f.putBe16(value as number);
      return;
    case 4:
      f.putBe32(value as number);
      return;
    default:
      f.putBe64(value as bigint);
  }
}

/** Decodes a scalar from the first bytes of `b` (at least `scalarSize(type)` of them). */
export function scalarFrom(b: Buffer, type: VmStateScalarType): number | bigint | boolean {
  const { size, signed } = LAYOUT[type];
  switch (size) {
    case 1:
      return type === 'bool' ? b[0] !== 0 : signed ? b.readInt8(0) : b.readUInt8(0);
    case 2:
      return signed ? b.readInt16BE(0) : b.readUInt16BE(0);
    case 4:
      return signed ? b.readInt32BE(0) : b.readUInt32BE(0);
    default:
      return signed ? b.readBigInt64BE(0) : b.readBigUInt64BE(0);
  }
}
