import { once } from 'node:events';
import * as net from 'node:net';
import { WatchdogChannel } from '@savevm/session';
import { MemoryReadChannel, QemuFileReader, QemuFileWriter, SocketChannel, type ReadChannel } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { ALL_FLAGS, STOP_COPY_ONLY, makePair, saveToMemory } from './helpers/vm.js';

/** Delivers the stream in pieces of pseudo-random sizes, as a socket does. */
class ChunkedChannel implements ReadChannel {
  private at = 0;
  private x: number;
  constructor(
    private readonly bytes: Uint8Array,
    seed: number,
    private readonly maxPiece: number,
  ) {
    this.x = seed;
  }
  async read(into: Uint8Array): Promise<number> {
    await new Promise((r) => setImmediate(r));
    this.x = (this.x * 1103515245 + 12345) % 2 ** 31;
    const n = Math.min(into.length, this.bytes.length - this.at, 1 + (this.x % this.maxPiece));
    into.set(this.bytes.subarray(this.at, this.at + n));
    this.at += n;
    return n;
  }
  async close(): Promise<void> {}
  shutdown(): void {}
}

describe('loading device data that arrives in pieces of any size (a socket)', () => {
  for (const [label, flags] of [
    ['stop-copy only', STOP_COPY_ONLY],
    ['pre-copy', ALL_FLAGS],
  ] as const) {
    for (const maxPiece of [7, 1000, 65536, 200_000]) {
      it(`${label}, pieces up to ${maxPiece} bytes: the device bytes arrive intact`, async () => {
        const { src, dst } = await makePair([{ flags, stateSize: 3 * 1024 * 1024 + 12345, dirtyPagesPerRead: flags === ALL_FLAGS ? 2 : 0 }]);
        const { bytes } = await saveToMemory(src);
        await dst.destination.load(new QemuFileReader(new ChunkedChannel(bytes, maxPiece, maxPiece)), { autostart: true });
        expect(Buffer.from(dst.devices[0]!.emulated.model.stateBytes).equals(Buffer.from(src.devices[0]!.emulated.model.stateBytes))).toBe(true);
        src.close();
        dst.close();
      });
    }
  }
});

/** An asynchronous channel that, like a socket, holds the chunks it was given until the write settles. */
class LazyCopyChannel {
  readonly parts: Buffer[] = [];
  writev(chunks: readonly Uint8Array[]): Promise<void> {
    return new Promise((resolve) =>
      setTimeout(() => {
        for (const c of chunks) this.parts.push(Buffer.from(c));
        resolve();
      }, 1),
    );
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
  async close(): Promise<void> {}
  shutdown(): void {}
}

describe('saving to a channel that holds the buffers it was given until the write settles (a socket)', () => {
  for (const [label, flags] of [
    ['stop-copy only', STOP_COPY_ONLY],
    ['pre-copy', ALL_FLAGS],
  ] as const) {
    it(`${label}: the device bytes arrive intact`, async () => {
      const { src, dst } = await makePair([{ flags, stateSize: 5 * 1024 * 1024 + 777, dirtyPagesPerRead: flags === ALL_FLAGS ? 3 : 0 }]);
      const channel = new LazyCopyChannel();
      await src.source.migrate(new QemuFileWriter(channel), { maxBandwidth: 0, availSwitchoverBandwidth: 1e12, maxIterations: 10_000 });
      await dst.destination.load(new QemuFileReader(new MemoryReadChannel(channel.bytes())), { autostart: true });
      expect(Buffer.from(dst.devices[0]!.emulated.model.stateBytes).equals(Buffer.from(src.devices[0]!.emulated.model.stateBytes))).toBe(true);
      src.close();
      dst.close();
    });
  }
});

describe('loading from a real TCP socket behind the transfer watchdog (the migrator\'s destination)', () => {
  it('pre-copy with dirtying: the device bytes arrive intact', async () => {
    const { src, dst } = await makePair([{ flags: ALL_FLAGS, stateSize: 32 * 1024 * 1024, dirtyPagesPerRead: 3 }]);
    const { bytes } = await saveToMemory(src);
    const server = net.createServer((s) => s.end(bytes));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    await dst.destination.load(new QemuFileReader(new WatchdogChannel(new SocketChannel(client), 30_000, 'tcp:test')), { autostart: true });
    expect(Buffer.from(dst.devices[0]!.emulated.model.stateBytes).equals(Buffer.from(src.devices[0]!.emulated.model.stateBytes))).toBe(true);
    server.close();
    src.close();
    dst.close();
  });
});

describe('loading through a watchdog over memory', () => {
  it('pre-copy with dirtying', async () => {
    const { src, dst } = await makePair([{ flags: ALL_FLAGS, stateSize: 8 * 1024 * 1024, dirtyPagesPerRead: 3 }]);
    const { bytes } = await saveToMemory(src);
    await dst.destination.load(new QemuFileReader(new WatchdogChannel(new MemoryReadChannel(bytes), 30_000, 'mem')), { autostart: true });
    expect(Buffer.from(dst.devices[0]!.emulated.model.stateBytes).equals(Buffer.from(src.devices[0]!.emulated.model.stateBytes))).toBe(true);
    src.close();
    dst.close();
  });
});
