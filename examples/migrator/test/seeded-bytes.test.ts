/**
 * The seeded bytes the byte checks recompute are exactly an emulated device's: the fill is
 * `fillFromSeed`'s, the writes are `DeviceStateBytes.dirtyRandom`'s, and the streamed
 * digest equals the digest of the whole rebuilt state.
 */
import { createHash } from 'node:crypto';
import { DeviceStateBytes, fillFromSeed } from '@savevm/vfio/emulated';
import { describe, expect, it } from 'vitest';
import { SeededWrites, expectedSeededDigest, fillSeeded, firstSeededDifference } from '../src/devices/seeded-bytes.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('seeded bytes', () => {
  it.each([
    [4096, 1],
    [4097, 7], // ends inside a 32-bit word
    [3 * 1024 * 1024 + 8192, 0], // seed 0, more than one chunk
  ])('fill %i bytes from seed %i as fillFromSeed does', (size, seed) => {
    const expected = new Uint8Array(size);
    fillFromSeed(expected, seed);
    const got = Buffer.alloc(size);
    fillSeeded(got, seed);
    expect(got.equals(expected)).toBe(true);
  });

  it('a view that does not start on a word boundary is filled the same', () => {
    const expected = new Uint8Array(8192);
    fillFromSeed(expected, 5);
    const got = Buffer.alloc(8193).subarray(1);
    fillSeeded(got, 5);
    expect(got.equals(expected)).toBe(true);
  });

  it('writes are the ones an emulated device makes', () => {
    const size = 64 * 1024;
    const device = new DeviceStateBytes(size, 4096, 9);
    device.dirtyRandom(500);
    const bytes = Buffer.alloc(size);
    fillSeeded(bytes, 9);
    const writes = new SeededWrites(size, 9);
    for (let i = 0; i < 500; i++) {
      const { offset, value } = writes.next();
      expect(value & 1).toBe(1); // never 0: the byte always changes
      bytes[offset] = (bytes[offset] ?? 0) ^ value;
    }
    expect(bytes.equals(device.bytes)).toBe(true);
  });

  it.each([
    [2 * 1024 * 1024 + 4096, 3, 0],
    [2 * 1024 * 1024 + 4096, 3, 5000], // writes in both chunks, some on the same byte
    [1_000_003, 11, 777], // a size an emulated device may have
  ])('the streamed digest of %i bytes, seed %i, %i writes is the whole state\'s', (size, seed, writes) => {
    const device = new DeviceStateBytes(size, 4096, seed);
    device.dirtyRandom(writes);
    expect(expectedSeededDigest(size, seed, writes)).toBe(sha256(device.bytes));
  });

  it('one write more changes the digest', () => {
    expect(expectedSeededDigest(8192, 3, 10)).not.toBe(expectedSeededDigest(8192, 3, 11));
  });

  it('finds where bytes first differ from the seeded ones, in any chunk', () => {
    const size = 3 * 1024 * 1024;
    const device = new DeviceStateBytes(size, 4096, 12);
    device.dirtyRandom(300);
    const bytes = Buffer.from(device.bytes);
    expect(firstSeededDifference(bytes, 12, 300)).toBeUndefined();
    expect(firstSeededDifference(bytes, 12, 299)).toBeTypeOf('number'); // one write short
    for (const at of [0, 1024 * 1024 + 5, size - 1]) {
      bytes[at] = (bytes[at] ?? 0) ^ 0x40;
      expect(firstSeededDifference(bytes, 12, 300)).toBe(at);
      bytes[at] = (bytes[at] ?? 0) ^ 0x40;
    }
  });
});
