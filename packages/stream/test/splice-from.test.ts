import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FdChannel } from '../src/channels/fd-channel.js';
import { MemoryWriteChannel } from '../src/channels/memory-channel.js';
import type { SpliceSource } from '../src/channels/splice.js';
import { StreamIoError } from '../src/errors.js';
import { QemuFileWriter } from '../src/file/qemu-file-writer.js';
import { RateLimiter } from '../src/file/rate-limiter.js';

/**
 * A SpliceSource over a byte array that "splices" with fs.writeSync into the target fd (what
 * the kernel does, minus the zero copy), at most `maxPerCall` bytes per call; it can refuse
 * (EINVAL) from a given call on, and records every call.
 */
class ArraySource implements SpliceSource {
  pos = 0;
  spliceCalls: number[] = [];
  readCalls = 0;
  constructor(
    readonly data: Buffer,
    readonly opts: { maxPerCall?: number; refuseFromCall?: number; asyncRead?: boolean } = {},
  ) {}
  spliceTo(fd: number, n: number): number | 'unsupported' {
    if (this.opts.refuseFromCall !== undefined && this.spliceCalls.length >= this.opts.refuseFromCall) return 'unsupported';
    const k = Math.min(n, this.opts.maxPerCall ?? n, this.data.length - this.pos);
    this.spliceCalls.push(k);
    if (k > 0) fs.writeSync(fd, this.data, this.pos, k);
    this.pos += k;
    return k;
  }
  read(into: Uint8Array): number | Promise<number> {
    this.readCalls++;
    const k = Math.min(into.byteLength, this.data.length - this.pos);
    into.set(this.data.subarray(this.pos, this.pos + k));
    this.pos += k;
    return this.opts.asyncRead ? Promise.resolve(k) : k;
  }
}

const tmpFiles: string[] = [];
function tmpFile(): string {
  const p = path.join(os.tmpdir(), `savevm-splice-${process.pid}-${tmpFiles.length}.bin`);
  tmpFiles.push(p);
  return p;
}
afterEach(() => {
  for (const p of tmpFiles.splice(0)) fs.rmSync(p, { force: true });
});

function payload(n: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** The same stream written with putBuffer: header, block, trailer. */
function expected(blocks: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const b of blocks) {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(0xffffffffef100004n, 0);
    h.writeBigUInt64BE(BigInt(b.length), 8);
    parts.push(h, b);
  }
  const end = Buffer.alloc(8);
  end.writeBigUInt64BE(0xffffffffef100001n);
  parts.push(end);
  return Buffer.concat(parts);
}

async function writeBlocks(f: QemuFileWriter, src: SpliceSource, sizes: number[], scratch: Uint8Array): Promise<boolean[]> {
  const how: boolean[] = [];
  for (const n of sizes) {
    f.putBe64(0xffffffffef100004n);
    f.putBe64Number(n);
    how.push(await f.spliceFrom(src, n, scratch));
  }
  f.putBe64(0xffffffffef100001n);
  await f.flush();
  return how;
}

describe('QemuFileWriter.spliceFrom', () => {
  it('over a sync fd channel: the source moves the bytes into the fd, after the gathered header; output identical to putBuffer', async () => {
    const data = payload(3 * 65536 + 123);
    const sizes = [65536, 65536, 65536, 123];
    const file = tmpFile();
    const fd = fs.openSync(file, 'w');
    const f = new QemuFileWriter(new FdChannel(fd, { mode: 'sync', ownsFd: true }), { synchronous: true });
    expect(f.canSplice()).toBe(true);
    const src = new ArraySource(data, { maxPerCall: 40000 });
    const how = await writeBlocks(f, src, sizes, Buffer.alloc(65536));
    await f.close();
    expect(how).toEqual([true, true, true, true]);
    expect(src.readCalls).toBe(0);
    const blocks = [data.subarray(0, 65536), data.subarray(65536, 131072), data.subarray(131072, 196608), data.subarray(196608)];
    expect(fs.readFileSync(file).equals(expected(blocks))).toBe(true);
    expect(f.bytesWritten).toBe(data.length + 16 * 4 + 8);
    expect(f.bytesFlushed).toBe(f.bytesWritten);
  });

  it('counts spliced bytes against the rate limit like any put', async () => {
    const fd = fs.openSync(tmpFile(), 'w');
    const limiter = new RateLimiter(10 * 1000, () => 0); // 1000 bytes per window, clock frozen
    const f = new QemuFileWriter(new FdChannel(fd, { mode: 'sync', ownsFd: true }), { synchronous: true, rateLimit: limiter });
    f.putBuffer(Buffer.alloc(984));
    expect(f.rateLimitExceeded()).toBe(false);
    await f.spliceFrom(new ArraySource(payload(16)), 16, Buffer.alloc(16));
    expect(f.rateLimitExceeded()).toBe(true);
    expect(f.bytesWritten).toBe(1000);
    await f.close();
  });

  it('a channel that is no splice target (memory, async fd) reads into scratch and puts: same bytes', async () => {
    const data = payload(200_000);
    const ch = new MemoryWriteChannel();
    const f = new QemuFileWriter(ch);
    expect(f.canSplice()).toBe(false);
    const src = new ArraySource(data, { asyncRead: true });
    const how = await writeBlocks(f, src, [100_000, 100_000], Buffer.alloc(65536));
    expect(how).toEqual([false, false]);
    expect(src.spliceCalls).toEqual([]);
    expect(ch.bytes().equals(expected([data.subarray(0, 100_000), data.subarray(100_000)]))).toBe(true);
    const asyncFd = new FdChannel(fs.openSync(tmpFile(), 'w'), { mode: 'async', ownsFd: true });
    expect(new QemuFileWriter(asyncFd).canSplice()).toBe(false);
    await asyncFd.close();
  });

  it('refused on the first call (EINVAL): falls back to read + put for that block; the caller gets false', async () => {
    const data = payload(150_000);
    const file = tmpFile();
    const f = new QemuFileWriter(new FdChannel(fs.openSync(file, 'w'), { mode: 'sync', ownsFd: true }), { synchronous: true });
    const src = new ArraySource(data, { refuseFromCall: 0 });
    const how = await writeBlocks(f, src, [150_000], Buffer.alloc(65536));
    await f.close();
    expect(how).toEqual([false]);
    expect(src.readCalls).toBe(3);
    expect(fs.readFileSync(file).equals(expected([data]))).toBe(true);
    expect(f.bytesWritten).toBe(150_000 + 24);
  });

  it('refused after part of a block moved: the rest is read and put, in order', async () => {
    const data = payload(100_000);
    const file = tmpFile();
    const f = new QemuFileWriter(new FdChannel(fs.openSync(file, 'w'), { mode: 'sync', ownsFd: true }), { synchronous: true });
    const src = new ArraySource(data, { maxPerCall: 30_000, refuseFromCall: 2 });
    const how = await writeBlocks(f, src, [100_000], Buffer.alloc(16_384));
    await f.close();
    expect(how).toEqual([false]);
    expect(src.spliceCalls).toEqual([30_000, 30_000]);
    expect(fs.readFileSync(file).equals(expected([data]))).toBe(true);
    expect(f.bytesWritten).toBe(100_000 + 24);
    expect(f.bytesFlushed).toBe(f.bytesWritten);
  });

  it('a source that ends short fails with a sticky StreamIoError (spliced and fallback paths)', async () => {
    for (const refuse of [undefined, 0]) {
      const f = new QemuFileWriter(new FdChannel(fs.openSync(tmpFile(), 'w'), { mode: 'sync', ownsFd: true }), { synchronous: true });
      const src = new ArraySource(payload(1000), refuse === undefined ? {} : { refuseFromCall: refuse });
      await expect(f.spliceFrom(src, 4096, Buffer.alloc(4096))).rejects.toThrow(/ended after 1000 of 4096 bytes/);
      expect(f.error).toBeInstanceOf(StreamIoError);
      await expect(f.spliceFrom(src, 10, Buffer.alloc(16))).resolves.toBe(false);
      await expect(f.close()).rejects.toBeInstanceOf(StreamIoError);
    }
  });

  it('a source that throws: the error propagates and becomes sticky', async () => {
    const f = new QemuFileWriter(new FdChannel(fs.openSync(tmpFile(), 'w'), { mode: 'sync', ownsFd: true }), { synchronous: true });
    const boom: SpliceSource = {
      spliceTo: () => {
        throw Object.assign(new Error('EIO'), { code: 'EIO' });
      },
      read: () => 0,
    };
    await expect(f.spliceFrom(boom, 10, Buffer.alloc(16))).rejects.toThrow('EIO');
    expect(f.error).toBeInstanceOf(StreamIoError);
    expect(f.canSplice()).toBe(false);
    await f.close().catch(() => undefined);
  });

  it('a shut-down fd channel is no splice target', async () => {
    const ch = new FdChannel(fs.openSync(tmpFile(), 'w'), { mode: 'sync', ownsFd: true });
    expect(ch.spliceTarget()).toBe(ch.fd);
    ch.shutdown();
    expect(ch.spliceTarget()).toBeUndefined();
    fs.closeSync(ch.fd);
  });
});
