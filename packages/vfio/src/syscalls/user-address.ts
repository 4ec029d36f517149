/** The user address of a buffer through a syscall layer, for ioctl structs that carry pointers. */
import { VfioError, type ErrorContext } from '../errors.js';
import type { Syscalls } from './syscalls.js';

/**
 * `bytes`' user address through `sys.addressOf`.
 * @throws VfioError when the syscall layer cannot give addresses
 */
export function userAddress(sys: Syscalls, bytes: Uint8Array, context: ErrorContext): bigint {
  if (sys.addressOf === undefined) throw new VfioError('the syscall layer gives no user addresses (addressOf)', context);
  return sys.addressOf(bytes);
}

/** A byte length or IOVA as the u64 the kernel reads; throws RangeError for a negative or unsafe number. */
export function u64(value: number | bigint, what: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value >= 2n ** 64n) throw new RangeError(`${what} ${value} is not a u64`);
    return value;
  }
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} ${value} is not a non-negative safe integer`);
  return BigInt(value);
}
