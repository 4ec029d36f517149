import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FdChannel, defaultFdIoMode, openFileChannel } from '../src/channels/fd-channel.js';
import { SocketChannel } from '../src/channels/socket-channel.js';
import { StreamIoError } from '../src/errors.js';
import { QemuFileReader } from '../src/file/qemu-file-reader.js';
import { QemuFileWriter } from '../src/file/qemu-file-writer.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(join(tmpdir(), 'savevm-stream-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function digest(blocks: readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const b of blocks) h.update(`${b.length}:`).update(b);
  return h.digest('hex');
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

async function writeFramed(f: QemuFileWriter, blocks: Buffer[]): Promise<void> {
  for (const block of blocks) {
    f.putBe64(0xffffffffef100004n);
    f.putBe64Number(block.length);
    f.putBuffer(block);
    await f.flush();
  }
  f.putBe64(0xffffffffef100001n);
  await f.close();
}

async function readFramed(r: QemuFileReader): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (;;) {
    const tag = await r.getBe64();
    if (tag === 0xffffffffef100001n) return out;
    expect(tag).toBe(0xffffffffef100004n);
    out.push(await r.getBytes(await r.getBe64Number()));
  }
}

describe('channels', () => {
  it('picks sync I/O for files and character devices, async for pipes', () => {
    const dir = tempDir();
    const fd = fs.openSync(join(dir, 'f'), 'w');
    cleanups.push(() => fs.closeSync(fd));
    expect(defaultFdIoMode(fd)).toBe('sync');
    const nul = fs.openSync('/dev/null', 'w');
    cleanups.push(() => fs.closeSync(nul));
    expect(defaultFdIoMode(nul)).toBe('sync');
  });

  it('round-trips framed blocks through a file path', async () => {
    const path = join(tempDir(), 'stream');
    const blocks = [pattern(1 << 20, 1), pattern(100, 2), pattern(70_000, 3)];
    await writeFramed(new QemuFileWriter(openFileChannel(path, 'write')), blocks);
    expect(fs.statSync(path).size).toBe(blocks.reduce((n, b) => n + 16 + b.length, 8));
    const r = new QemuFileReader(openFileChannel(path, 'read'));
    expect(digest(await readFramed(r))).toBe(digest(blocks));
    await r.close();
  });

  it('round-trips through pipes to and from another process (async fd I/O)', async () => {
    const dir = tempDir();
    const into = join(dir, 'into');
    const out = join(dir, 'out');
    execFileSync('mkfifo', [into, out]);
    // O_RDWR on a FIFO never blocks in open(); cat copies one pipe to the other.
    const writeFd = fs.openSync(into, fs.constants.O_RDWR);
    const readFd = fs.openSync(out, fs.constants.O_RDWR);
    cleanups.push(() => (fs.closeSync(writeFd), fs.closeSync(readFd)));
    const child = spawn('sh', ['-c', `exec cat < ${into} > ${out}`], { stdio: 'ignore' });
    cleanups.push(() => child.kill());
    expect(defaultFdIoMode(writeFd)).toBe('async');
    const writer = new QemuFileWriter(new FdChannel(writeFd));
    const reader = new QemuFileReader(new FdChannel(readFd));
    const blocks = [pattern(3 << 20, 4), pattern(5, 5), pattern(200_000, 6)];
    const [, got] = await Promise.all([writeFramed(writer, blocks), readFramed(reader)]);
    expect(digest(got)).toBe(digest(blocks));
  });

  it('round-trips through a socket and honours back-pressure', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    const [serverSide] = await accepted;
    const writer = new QemuFileWriter(new SocketChannel(client));
    const reader = new QemuFileReader(new SocketChannel(serverSide));
    const blocks = Array.from({ length: 12 }, (_, i) => pattern(4 << 20, i));
    // A writer far ahead of a stalled reader must wait: 48 MiB cannot all be in flight.
    const writing = writeFramed(writer, blocks);
    await new Promise((r) => setTimeout(r, 200));
    expect(writer.bytesFlushed).toBeLessThan(48 << 20);
    const got = await readFramed(reader);
    await writing;
    expect(digest(got)).toBe(digest(blocks));
    serverSide.destroy();
  });

  it('hands out a socket\'s bytes in order to reads that split its chunks at any size', async () => {
    const sent = pattern(3 << 20, 17);
    const server = net.createServer((s) => {
      // Writes of uneven sizes, so chunks arrive split and joined in many ways.
      let at = 0;
      for (let k = 1; at < sent.length; k++) {
        const n = Math.min(sent.length - at, (k * 7919) % 200_000 + 1);
        s.write(sent.subarray(at, at + n));
        at += n;
      }
      s.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => server.close());
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    const channel = new SocketChannel(client);
    const got = Buffer.alloc(sent.length + 1);
    const sizes = [1, 13, 4096, 4097, 65_536, 333_333];
    let at = 0;
    for (let i = 0; ; i++) {
      const size = sizes[i % sizes.length] as number;
      const n = await channel.read(got.subarray(at, Math.min(got.length, at + size)));
      if (n === 0) break;
      at += n;
    }
    expect(at).toBe(sent.length);
    expect(got.subarray(0, at).equals(sent)).toBe(true);
  });

  it('fails a write to a socket whose peer went away with a sticky StreamIoError', async () => {
    const server = net.createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => server.close());
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    await once(client, 'close');
    const writer = new QemuFileWriter(new SocketChannel(client));
    writer.putBuffer(pattern(1 << 20, 9));
    await expect(writer.flush()).rejects.toBeInstanceOf(StreamIoError);
  });

  it('reads end-of-stream from a closed socket as truncation', async () => {
    const server = net.createServer((s) => s.end(Buffer.from([0x51, 0x45])));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => server.close());
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const r = new QemuFileReader(new SocketChannel(client));
    await expect(r.getBe32('the file magic')).rejects.toMatchObject({ code: 'TRUNCATED', offset: 2 });
  });
});
