/**
 * What makes the byte check real: the emulated device's state is a pure function of its
 * seed, its size and how many pages its workload dirtied (the workload draws from a PRNG
 * seeded with the same seed). Either side can recompute it and compare digests.
 */
import { createHash } from 'node:crypto';
import { expectedSeededDigest } from './seeded-bytes.js';

/** SHA-256 of some bytes, hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** SHA-256 (hex) of the state an emulated device has after its workload dirtied `dirtied` pages. */
export function expectedEmulatedDigest(size: number, seed: number, dirtied: number): string {
  return expectedSeededDigest(size, seed, dirtied);
}
