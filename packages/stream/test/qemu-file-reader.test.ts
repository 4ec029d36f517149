import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { ReadChannel } from '../src/channels/channel.js';
import { StreamFormatError, StreamIoError, StreamTruncatedError } from '../src/errors.js';
import { QemuFileReader, READ_BUF_SIZE } from '../src/file/qemu-file-reader.js';
import { hex, readerOf } from './helpers.js';

/** Delivers the source a few bytes at a time, asynchronously. */
class TrickleChannel implements ReadChannel {
  private at = 0;
  constructor(private readonly source: Uint8Array, private readonly step = 3) {}
  async read(into: Uint8Array): Promise<number> {
    await new Promise((r) => setImmediate(r));
    const n = Math.min(this.step, into.length, this.source.length - this.at);
    into.set(this.source.subarray(this.at, this.at + n));
    this.at += n;
    return n;
  }
  async close(): Promise<void> {}
  shutdown(): void {}
}

/** Gives `goodBytes` bytes of 1s, then fails every read as a reset connection does. */
function resetAfter(goodBytes: number): ReadChannel {
  let given = 0;
  return {
    read: (into: Uint8Array) => {
      if (given === goodBytes) return Promise.reject(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
      const n = Math.min(into.length, goodBytes - given);
      into.fill(1, 0, n);
      given += n;
      return n;
    },
    close: async () => undefined,
    shutdown: () => undefined,
  };
}

describe('QemuFileReader', () => {
  it('reads big-endian values, exact 64-bit values and counted strings', async () => {
    const r = readerOf(hex('01 0203 04050607 ffffffffef100001 04 7666696f 001fffffffffffff'));
    expect(await r.getU8()).toBe(1);
    expect(await r.getBe16()).toBe(0x0203);
    expect(await r.getBe32()).toBe(0x04050607);
    expect(await r.getBe64()).toBe(0xffffffffef100001n);
    expect(await r.getCountedString()).toBe('vfio');
    expect(await r.getBe64Number()).toBe(2 ** 53 - 1);
    expect(r.offset).toBe(28);
    expect(await r.isAtEnd()).toBe(true);
  });

  it('refuses a 64-bit length beyond 2^53 with a typed error', async () => {
    const r = readerOf(hex('0020000000000000'));
    await expect(r.getBe64Number('a data size')).rejects.toMatchObject({ code: 'TOO_LARGE', offset: 0 });
  });

  it('reports truncation with the offset where bytes are missing, and keeps the error', async () => {
    const r = readerOf(hex('00 01 02'));
    await r.getU8();
    const err = await r.getBe32('a section id').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamTruncatedError);
    expect((err as StreamTruncatedError).offset).toBe(3);
    expect((err as Error).message).toContain('a section id');
    await expect(r.getU8()).rejects.toBe(err);
  });

  it('never allocates from an untrusted length: 2^32-1 bytes on a short stream fail fast', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const r = readerOf(Buffer.alloc(100));
    const t0 = performance.now();
    await expect(r.getBytes(2 ** 32 - 1)).rejects.toBeInstanceOf(StreamTruncatedError);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('assembles values split across many small asynchronous reads', async () => {
    const src = Buffer.alloc(100_000);
    for (let i = 0; i < src.length; i++) src[i] = (i * 7) & 0xff;
    const r = new QemuFileReader(new TrickleChannel(src, 5000));
    const first = await r.getBytes(40_000);
    expect(first.equals(src.subarray(0, 40_000))).toBe(true);
    await r.ensure(READ_BUF_SIZE);
    expect(r.takeView(READ_BUF_SIZE).equals(src.subarray(40_000, 40_000 + READ_BUF_SIZE))).toBe(true);
    const rest: Buffer[] = [];
    await r.copyTo(100_000 - 40_000 - READ_BUF_SIZE, { write: (c) => void rest.push(Buffer.from(c)) });
    expect(Buffer.concat(rest).equals(src.subarray(40_000 + READ_BUF_SIZE))).toBe(true);
    expect(r.offset).toBe(100_000);
  });

  it('copyTo moves buffered bytes first, then reads into the given scratch buffer', async () => {
    const src = Buffer.alloc(300_000, 9);
    src.writeUInt32BE(0xcafebabe, 0);
    const r = readerOf(src);
    expect(await r.getBe32()).toBe(0xcafebabe);
    const scratch = Buffer.alloc(65536);
    const sizes: number[] = [];
    const seen = new Set<ArrayBufferLike>();
    await r.copyTo(300_000 - 4, { write: (c) => void (sizes.push(c.length), seen.add(c.buffer)) }, { scratch });
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(300_000 - 4);
    expect(seen.has(scratch.buffer)).toBe(true);
    expect(await r.isAtEnd()).toBe(true);
  });

  it('turns a channel failure into a sticky StreamIoError', async () => {
    const r = new QemuFileReader(resetAfter(0));
    const err = await r.getU8().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamIoError);
    expect((err as StreamIoError).errno).toBe('ECONNRESET');
    await expect(r.getU8()).rejects.toBe(err);
  });

  it('peekU8 does not consume and returns undefined at the end', async () => {
    const r = readerOf(hex('05'));
    expect(await r.peekU8()).toBe(5);
    expect(await r.peekU8()).toBe(5);
    expect(await r.getU8()).toBe(5);
    expect(await r.peekU8()).toBeUndefined();
  });

  it('refuses ensure beyond the look-ahead and take without ensure', async () => {
    const r = readerOf(Buffer.alloc(10));
    await expect(r.ensure(READ_BUF_SIZE + 1)).rejects.toBeInstanceOf(RangeError);
    expect(() => r.takeBe32()).toThrow(RangeError);
    expect(StreamFormatError).toBeDefined();
  });
});

describe('QemuFileReader.peek', () => {
  it('shows bytes without consuming them, across reads, and fewer only at the end', async () => {
    const src = Buffer.from('0123456789');
    const r = new QemuFileReader({
      at: 0,
      read(into: Uint8Array) {
        const n = Math.min(3, into.length, src.length - this.at);
        into.set(src.subarray(this.at, this.at + n));
        this.at += n;
        return n;
      },
      close: async () => undefined,
      shutdown: () => undefined,
    } as ReadChannel & { at: number });
    expect((await r.peek(5)).toString()).toBe('01234');
    expect(r.offset).toBe(0);
    expect(await r.getU8()).toBe(0x30);
    expect((await r.peek(20)).toString()).toBe('123456789');
    expect((await r.getBytes(9)).toString()).toBe('123456789');
    expect((await r.peek(4)).length).toBe(0);
  });
});

describe('QemuFileReader.readInto', () => {
  const opArb = fc.oneof(
    fc.record({ op: fc.constant<'u8'>('u8'), n: fc.constant(1) }),
    fc.record({ op: fc.constant<'bytes'>('bytes'), n: fc.nat({ max: 3 * READ_BUF_SIZE }) }),
    fc.record({ op: fc.constant<'into'>('into'), n: fc.nat({ max: 3 * READ_BUF_SIZE }) }),
  );

  test.prop([fc.array(opArb, { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 70_000 }), fc.nat()], {
    numRuns: 60,
  })('interleaved with other reads, gives the stream\'s bytes in order at any chunking', async (ops, step, seed) => {
    const total = ops.reduce((a, o) => a + o.n, 0);
    const src = Buffer.alloc(total);
    for (let i = 0; i < total; i++) src[i] = (i * 31 + seed) & 0xff;
    const r = new QemuFileReader(new TrickleChannel(src, step));
    let at = 0;
    for (const { op, n } of ops) {
      if (op === 'u8') expect(await r.getU8()).toBe(src[at]);
      else if (op === 'bytes') expect((await r.getBytes(n)).equals(src.subarray(at, at + n))).toBe(true);
      else {
        const target = new Uint8Array(n);
        await r.readInto(target);
        expect(Buffer.from(target).equals(src.subarray(at, at + n))).toBe(true);
      }
      at += n;
      expect(r.offset).toBe(at);
    }
    expect(await r.isAtEnd()).toBe(true);
  });

  it('reports truncation past the look-ahead at the offset where bytes ran out, and keeps the error', async () => {
    const src = Buffer.alloc(200_000, 7);
    const r = new QemuFileReader(new TrickleChannel(src, 40_000));
    await r.getU8();
    const err = await r.readInto(new Uint8Array(300_000), 'a page run').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamTruncatedError);
    expect((err as StreamTruncatedError).offset).toBe(200_000);
    expect((err as Error).message).toContain('a page run');
    await expect(r.readInto(new Uint8Array(1))).rejects.toBe(err);
  });

  it('turns a channel failure while reading past the look-ahead into a sticky StreamIoError', async () => {
    const r = new QemuFileReader(resetAfter(10));
    await r.getU8();
    const err = await r.readInto(new Uint8Array(100)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamIoError);
    expect((err as StreamIoError).errno).toBe('ECONNRESET');
    expect((err as StreamIoError).offset).toBe(10);
    await expect(r.getU8()).rejects.toBe(err);
  });
});
