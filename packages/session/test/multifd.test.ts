/**
 * Multifd channels through whole migrations (docs/design/multifd.md): device state on the
 * channels at switchover (QEMU 10.0's way), and every failure the issue lists — a channel
 * count or uuid that does not match, a channel the destination closes or stops reading, a
 * device whose channel work fails: the migration fails naming the channel (or the device),
 * the source VM runs again with its state, and no descriptor is left open.
 */
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MigrationError, MultifdChannelError } from '@savevm/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createMigrationSession, type MigrationSession } from '../src/index.js';
import { ChannelStateDevice } from './helpers/channel-state-device.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-multifd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 1 << 20;

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

async function vm(state: Buffer): Promise<{ session: MigrationSession; device: ChannelStateDevice }> {
  const session = await createMigrationSession();
  const device = new ChannelStateDevice(state);
  session.registry.register('0000:00:03.0/vfio', 0, 1, device);
  return { session, device };
}

async function rejectionOf(promise: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  );
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('device state on multifd channels', () => {
  it('travels in buffers on 3 channels and is put back in order on the destination (QEMU 10.0 stream)', async () => {
    const src = await vm(pattern(6 * MiB + 123, 7));
    const dst = await vm(Buffer.alloc(0));
    await src.session.runState.start();
    const path = join(dir, 'ds.sock');
    const incoming = dst.session.incoming(`unix:${path}`, { multifdChannels: 3 });
    await incoming.listening;
    const info = await src.session.migrate(`unix:${path}`, { multifdChannels: 3, streamCompat: 'qemu-10.0' });
    const loaded = await incoming;
    expect(info.status).toBe('completed');
    expect(loaded.status).toBe('completed');
    expect(dst.device.loaded?.equals(src.device.state)).toBe(true);
    expect(dst.device.calls).toContain('switchoverStart');
    const perChannel = info.multifdChannels ?? [];
    expect(perChannel.map((c) => c.channel)).toEqual([0, 1, 2]);
    // The state is spread over the channels.
    expect(perChannel.filter((c) => c.bytes > MiB).length).toBeGreaterThan(1);
    expect(perChannel.reduce((n, c) => n + c.bytes, 0)).toBeGreaterThan(6 * MiB);
    expect(loaded.multifdChannels?.length).toBe(3);
  });

  it('with QEMU 7.2 compat the channels carry no device state, and the device hook is not called', async () => {
    const src = await vm(pattern(MiB, 1));
    const dst = await vm(Buffer.alloc(0));
    const path = join(dir, 'ds72.sock');
    const incoming = dst.session.incoming(`unix:${path}`, { multifdChannels: 2 });
    await incoming.listening;
    await src.session.migrate(`unix:${path}`, { multifdChannels: 2, streamCompat: 'qemu-7.2' });
    await incoming;
    expect(src.device.calls).not.toContain('saveCompletePrecopyThread');
  });

  it('a device whose channel work fails fails the migration naming it; the VM runs again', async () => {
    const src = await vm(pattern(4 * MiB, 2));
    src.device.failAfter = 2;
    const dst = await vm(Buffer.alloc(0));
    await src.session.runState.start();
    const path = join(dir, 'dsfail.sock');
    const incoming = dst.session.incoming(`unix:${path}`, { multifdChannels: 2 });
    await incoming.listening;
    const err = await rejectionOf(src.session.migrate(`unix:${path}`, { multifdChannels: 2, streamCompat: 'qemu-10.0' }));
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).message).toContain('hook saveCompletePrecopyThread');
    expect((err as MigrationError).message).toContain('device read failed at buffer 2');
    expect(src.session.runState.isRunning).toBe(true);
    expect(src.device.calls.at(-1)).toBe('saveCleanup');
    await rejectionOf(incoming);
  });
});

describe('multifd handshake failures', () => {
  it('a source with fewer channels than the destination expects: the destination names the missing ones, the source fails and runs again', async () => {
    const src = await vm(pattern(MiB, 3));
    const dst = await vm(Buffer.alloc(0));
    await src.session.runState.start();
    const path = join(dir, 'count.sock');
    const incoming = dst.session.incoming(`unix:${path}`, { multifdChannels: 3, multifdAcceptTimeoutMs: 500 });
    await incoming.listening;
    const [srcErr, dstErr] = await Promise.all([rejectionOf(src.session.migrate(`unix:${path}`, { multifdChannels: 2 })), rejectionOf(incoming)]);
    expect((dstErr as MigrationError).message).toContain('channel 2 did not arrive within 500 ms');
    expect((dstErr as MigrationError).reason).toBe('TIMEOUT');
    expect(srcErr).toBeInstanceOf(MigrationError);
    expect(src.session.runState.isRunning).toBe(true);
  });

  it("a channel with another VM's uuid is refused in QEMU words", async () => {
    const src = await vm(pattern(MiB, 4));
    const dst = await vm(Buffer.alloc(0));
    const path = join(dir, 'uuid.sock');
    const incoming = dst.session.incoming(`unix:${path}`, { multifdChannels: 1, uuid: '11223344-5566-7788-99aa-bbccddeeff00' });
    await incoming.listening;
    const [srcErr, dstErr] = await Promise.all([rejectionOf(src.session.migrate(`unix:${path}`, { multifdChannels: 1 })), rejectionOf(incoming)]);
    expect(dstErr).toBeInstanceOf(MultifdChannelError);
    expect((dstErr as Error).message).toContain(
      "multifd: received uuid '00000000-0000-0000-0000-000000000000' and expected uuid '11223344-5566-7788-99aa-bbccddeeff00' for channel 0",
    );
    expect(srcErr).toBeInstanceOf(MigrationError);
  });

  it('multifd on a file: or with a bad channel count is refused before anything moves', async () => {
    const src = await vm(pattern(10, 5));
    const fileErr = await rejectionOf(src.session.migrate(`file:${join(dir, 'x.mig')}`, { multifdChannels: 2 }));
    expect((fileErr as Error).message).toContain('multifd channels need a network transport (tcp: or unix:), not file:');
    const countErr = await rejectionOf(src.session.migrate(`unix:${join(dir, 'none.sock')}`, { multifdChannels: 256 }));
    expect((countErr as Error).message).toContain('multifd channels must be 1 … 255, not 256');
    const dst = await vm(Buffer.alloc(0));
    const dstErr = await rejectionOf(dst.session.incoming(`file:${join(dir, 'x.mig')}`, { multifdChannels: 2 }));
    expect((dstErr as Error).message).toContain('multifd channels need a network transport');
  });
});

/**
 * A destination that takes every connection, reads what comes, and does `misbehave` to the
 * channel with id 1 once it has read `after` bytes of it.
 */
async function misbehavingDestination(path: string, misbehave: 'close' | 'stall', after: number): Promise<{ server: net.Server; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    let seen = Buffer.alloc(0);
    let id: number | undefined;
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (id === undefined && seen.length < 64) {
        seen = Buffer.concat([seen, chunk]);
        if (seen.length >= 4 && seen.readUInt32BE(0) === 0x5145564d) id = -1;
        else if (seen.length >= 64) id = seen[24];
      }
      if (id === 1 && bytes >= after) {
        if (misbehave === 'close') socket.destroy();
        else socket.pause();
      }
    });
    socket.on('error', () => undefined);
  });
  server.listen(path);
  await once(server, 'listening');
  return { server, sockets };
}

describe('a channel that fails during the migration', () => {
  it.each([
    ['closes', 'close' as const, {}, 'writing failed'],
    ['stops reading (transfer timeout)', 'stall' as const, { transferTimeoutMs: 400 }, 'transfer timeout 400 ms'],
  ])('the destination %s: the source fails naming channel 1, runs again with its state, leaves no descriptor open', async (_what, misbehave, extra, words) => {
    const state = pattern(48 * MiB, 6);
    const src = await vm(state);
    await src.session.runState.start();
    const path = join(dir, `${misbehave}.sock`);
    const { server, sockets } = await misbehavingDestination(path, misbehave, 2 * MiB);
    const before = openFds();
    try {
      const err = await rejectionOf(src.session.migrate(`unix:${path}`, { multifdChannels: 2, streamCompat: 'qemu-10.0', ...extra }));
      expect(err).toBeInstanceOf(MultifdChannelError);
      expect((err as MultifdChannelError).channel).toBe(1);
      expect((err as Error).message).toContain('multifd channel 1');
      expect((err as Error).message.toLowerCase()).toContain(words);
      expect((err as MigrationError).reason).toBe(misbehave === 'stall' ? 'TIMEOUT' : 'CONNECT_FAILED');
      expect(src.session.runState.isRunning).toBe(true);
      expect(src.device.state.equals(pattern(48 * MiB, 6))).toBe(true);
      expect(src.session.source.info.status).toBe('failed');
      // The main connection and the two channels, and no TLS probe: a destination waiting
      // for channels takes every connection for one (issue 17 item 5).
      expect(sockets).toHaveLength(3);
      // The fake destination's own sockets live in this process too: a paused one never sees the close.
      for (const s of sockets) s.destroy();
      await new Promise((r) => setTimeout(r, 50));
      expect(openFds()).toBeLessThanOrEqual(before);
    } finally {
      server.close();
    }
  });
});
