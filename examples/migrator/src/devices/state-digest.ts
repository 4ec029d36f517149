/**
 * What makes the byte check real: the emulated device's state is a pure function of its
 * seed, its size and how many pages its workload dirtied (the workload draws from a PRNG
 * seeded with the same seed). Either side can recompute it and compare digests.
 */
import { createHash } from 'node:crypto';
import { DeviceStateBytes } from '@savevm/vfio';

/** SHA-256 of some bytes, hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The state an emulated device has after its workload dirtied `dirtied` pages. */
export function expectedEmulatedState(size: number, seed: number, dirtied: number, pageSize = 4096): Uint8Array {
  const state = new DeviceStateBytes(size, pageSize, seed);
  state.dirtyRandom(dirtied);
  return state.bytes;
}
