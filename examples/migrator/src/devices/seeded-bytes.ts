/**
 * What makes the byte checks real: an emulated device's state and the guest RAM are a pure
 * function of their size, their seed and how many writes dirtied them. The fill is what
 * `@savevm/vfio`'s `fillFromSeed` gives, each write is what an emulated device's workload
 * makes (`DeviceStateBytes.dirtyRandom`: one byte XORed at a seeded-random offset), and the
 * RAM's guest writes the same way, so either side can recompute the bytes and compare
 * digests — here fast enough to run while the VM is stopped (1 ms per MiB, against 22 for
 * `DeviceStateBytes`).
 */
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { Xorshift32, fillFromSeed } from '@savevm/vfio/emulated';

/** xorshift32's state for a seed, as `Xorshift32` seeds itself (0 becomes a fixed non-zero value). */
function initialState(seed: number): number {
  return seed >>> 0 || 0x9e3779b9;
}

/**
 * Fills `words` with xorshift32's next values from `state` and returns the new state: the
 * same sequence as `Xorshift32.next()`, inlined (about ten times faster on 64 MiB).
 */
function fillWords(words: Uint32Array, state: number): number {
  let x = state;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return x >>> 0;
}

/**
 * Fills `bytes` from a seed: the bytes `fillFromSeed(bytes, seed)` gives, written a 32-bit
 * word at a time on a little-endian host (the word's bytes are the value's, low byte first).
 */
export function fillSeeded(bytes: Uint8Array, seed: number): void {
  if (endianness() !== 'LE' || bytes.byteOffset % 4 !== 0 || bytes.byteLength % 4 !== 0) {
    fillFromSeed(bytes, seed);
    return;
  }
  fillWords(new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), initialState(seed));
}

/** One write: XOR `value` into the byte at `offset`. */
export interface SeededWrite {
  /** The byte's offset. */
  readonly offset: number;
  /** What is XORed into it (never 0, so the byte always changes). */
  readonly value: number;
}

/**
 * The writes that dirty seeded bytes, in order: each a seeded-random offset and a non-zero
 * value, drawn as an emulated device's workload draws its own.
 */
export class SeededWrites {
  private readonly random: Xorshift32;

  /** @param size the bytes' length; @param seed their seed */
  constructor(
    private readonly size: number,
    seed: number,
  ) {
    this.random = new Xorshift32(seed);
  }

  /** The next write. */
  next(): SeededWrite {
    const offset = this.random.next() % this.size;
    const value = (this.random.next() & 0xff) | 1;
    return { offset, value };
  }
}

/** How much is rebuilt at a time when the expected bytes are hashed or compared (at most 2^20: see `packWrite`). */
const CHUNK_BYTES = 1 << 20;

/**
 * The most writes a byte check recomputes. The count comes from the stream (the source's
 * state-check record), so it bounds the work and memory a peer can ask for: under a second
 * and 4 bytes per write, 32 MiB at most (see `docs/design/hostile-input.md`, "Budgets").
 */
export const MAX_SEEDED_WRITES = 1 << 23;

/** One write as a 32-bit number: its offset inside its chunk (below 2^20) × 256 + its value. */
function packWrite(offsetInChunk: number, value: number): number {
  return offsetInChunk * 256 + value;
}

/**
 * The writes grouped by chunk, without sorting: a first pass over the seeded sequence counts
 * each chunk's writes, a second places each where its chunk's run starts (XOR writes commute,
 * so the order inside a chunk does not matter). Returns the packed writes and where each
 * chunk's run starts (`starts[c]` … `starts[c + 1]`).
 */
function writesByChunk(size: number, seed: number, writes: number, chunkBytes: number): { packed: Uint32Array; starts: Uint32Array } {
  const chunks = Math.ceil(size / chunkBytes);
  const starts = new Uint32Array(chunks + 1);
  const counting = new SeededWrites(size, seed);
  for (let i = 0; i < writes; i++) {
    const c = Math.floor(counting.next().offset / chunkBytes);
    starts[c + 1] = (starts[c + 1] as number) + 1;
  }
  for (let c = 0; c < chunks; c++) starts[c + 1] = (starts[c + 1] as number) + (starts[c] as number);
  const fill = starts.slice(0, chunks);
  const packed = new Uint32Array(writes);
  const placing = new SeededWrites(size, seed);
  for (let i = 0; i < writes; i++) {
    const w = placing.next();
    const c = Math.floor(w.offset / chunkBytes);
    const at = fill[c] as number;
    packed[at] = packWrite(w.offset - c * chunkBytes, w.value);
    fill[c] = at + 1;
  }
  return { packed, starts };
}

/**
 * Rebuilds `size` bytes filled from `seed` after `writes` writes a chunk at a time and shows
 * each chunk to `visit` with its offset, until `visit` returns false. It needs about 1 MiB of
 * memory plus four bytes per write, whatever the size; more than {@link MAX_SEEDED_WRITES}
 * writes are refused with a RangeError before any work.
 */
function forEachSeededChunk(size: number, seed: number, writes: number, visit: (chunk: Buffer, at: number) => boolean): void {
  if (!Number.isSafeInteger(writes) || writes < 0 || writes > MAX_SEEDED_WRITES) {
    throw new RangeError(`${writes} writes: a byte check recomputes at most ${MAX_SEEDED_WRITES}`);
  }
  const chunk = Buffer.alloc(Math.min(CHUNK_BYTES, size));
  const { packed, starts } = writesByChunk(size, seed, writes, Math.max(1, chunk.length));
  let state = initialState(seed);
  for (let at = 0, c = 0; at < size; at += chunk.length, c++) {
    const view = chunk.subarray(0, Math.min(chunk.length, size - at));
    state = fillChunk(view, state);
    const end = starts[c + 1] as number;
    for (let i = starts[c] as number; i < end; i++) {
      const key = packed[i] as number;
      const offset = key >>> 8;
      view[offset] = (view[offset] as number) ^ (key & 0xff);
    }
    if (!visit(view, at)) return;
  }
}

/** SHA-256 (hex) of `size` bytes filled from `seed` after `writes` writes (the fill with the writes applied). */
export function expectedSeededDigest(size: number, seed: number, writes: number): string {
  const hash = createHash('sha256');
  forEachSeededChunk(size, seed, writes, (chunk) => {
    hash.update(chunk);
    return true;
  });
  return hash.digest('hex');
}

/**
 * Where `bytes` first differ from what `seed` and `writes` writes give, or undefined when
 * they are exactly that. A comparison, not a digest: about three times faster than
 * {@link expectedSeededDigest}, and it says where.
 */
export function firstSeededDifference(bytes: Uint8Array, seed: number, writes: number): number | undefined {
  const actual = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let found: number | undefined;
  forEachSeededChunk(actual.length, seed, writes, (chunk, at) => {
    const here = actual.subarray(at, at + chunk.length);
    if (here.equals(chunk)) return true;
    let i = 0;
    while (here[i] === chunk[i]) i++;
    found = at + i;
    return false;
  });
  return found;
}

/** Fills one chunk as {@link fillSeeded} fills the bytes there, continuing from `state`; only the last chunk may end inside a word. */
function fillChunk(view: Buffer, state: number): number {
  if (endianness() === 'LE' && view.byteOffset % 4 === 0 && view.length % 4 === 0) {
    return fillWords(new Uint32Array(view.buffer, view.byteOffset, view.length / 4), state);
  }
  let x = state;
  for (let i = 0; i < view.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    view[i] = x & 0xff;
    if (i + 1 < view.length) view[i + 1] = (x >>> 8) & 0xff;
    if (i + 2 < view.length) view[i + 2] = (x >>> 16) & 0xff;
    if (i + 3 < view.length) view[i + 3] = (x >>> 24) & 0xff;
  }
  return x;
}
