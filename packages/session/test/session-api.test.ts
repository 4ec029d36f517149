/**
 * The one-call API: `createMigrationSession`, `migrate(uri)`, `incoming(uri)` — live over
 * tcp: and unix:, snapshots over file:, the destination's refusal reaching the source as a
 * failure, cancel by AbortSignal, port 0, and the argument checks.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MigrationError, RunState, type MigrationInfo, type SaveVMHandlers } from '@savevm/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createMigrationSession, type MigrationSession } from '../src/index.js';
import { BlobDevice } from './helpers/blob-device.js';
import { LiveDevice } from './helpers/live-device.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Vm {
  readonly session: MigrationSession;
  readonly live: LiveDevice;
  readonly blob: BlobDevice;
}

/** A VM with a live device and a non-live one; `blobVersion` is the blob device's version. */
async function makeVm(seed: number, blobVersion = 1, blobHandlers?: SaveVMHandlers): Promise<Vm> {
  const session = await createMigrationSession();
  const live = new LiveDevice(256, seed);
  const blob = new BlobDevice(Buffer.alloc(10_000, seed));
  session.registry.register('live', 0, 1, live);
  session.registry.register('blob', 0, blobVersion, blobHandlers ?? blob);
  return { session, live, blob };
}

function terminalStatuses(infos: MigrationInfo[]): string[] {
  return infos.map((i) => i.status).filter((s) => s === 'completed' || s === 'failed' || s === 'cancelled');
}

describe('migrate(uri) and incoming(uri)', () => {
  it('moves a running VM over tcp: with port 0; the source completes only after the destination said so', async () => {
    const src = await makeVm(1);
    const dst = await makeVm(2);
    await src.session.runState.start();
    const incoming = dst.session.incoming('tcp:127.0.0.1:0', { autostart: true });
    const { uri } = await incoming.listening;
    expect(uri).toMatch(/^tcp:127\.0\.0\.1:[1-9]\d*$/);
    const infos: MigrationInfo[] = [];
    const sub = src.session.source.info$.subscribe((i) => infos.push(i));
    const connected: boolean[] = [];
    const info = await src.session.migrate(uri, { downtimeLimitMs: 300, onConnected: (p) => connected.push(p.returnPath) });
    sub.unsubscribe();
    const loaded = await incoming;
    expect(info.status).toBe('completed');
    expect(loaded.status).toBe('completed');
    expect(connected).toEqual([true]);
    expect(dst.live.memory.equals(src.live.memory)).toBe(true);
    expect(dst.blob.loaded?.equals(src.blob.state)).toBe(true);
    expect(src.session.runState.state).toBe(RunState.POSTMIGRATE);
    expect(dst.session.runState.isRunning).toBe(true);
    expect(terminalStatuses(infos)).toEqual(['completed']);
  });

  it('info$ follows the latest direction: an incoming migration\'s values, then an outgoing one\'s, one terminal status each', async () => {
    const a = await makeVm(19);
    const b = await makeVm(20);
    const statuses: string[] = [];
    const sub = b.session.info$.subscribe((i) => statuses.push(i.status));
    await a.session.runState.start();
    const incoming = b.session.incoming('tcp:127.0.0.1:0', { autostart: true });
    await a.session.migrate((await incoming.listening).uri);
    await incoming;
    const back = a.session.incoming('tcp:127.0.0.1:0');
    await b.session.migrate((await back.listening).uri);
    await back;
    sub.unsubscribe();
    expect(terminalStatuses(statuses.map((status) => ({ status }) as MigrationInfo))).toEqual(['completed', 'completed']);
    expect(statuses[0]).toBe('none');
    expect(statuses).toContain('setup');
    // A late subscriber sees the latest migration's final value, and only that.
    const late: string[] = [];
    b.session.info$.subscribe((i) => late.push(i.status)).unsubscribe();
    expect(late).toEqual(['completed']);
  });

  it('moves a VM over unix: too', async () => {
    const src = await makeVm(3);
    const dst = await makeVm(4);
    await src.session.runState.start();
    const path = join(dir, 'mig.sock');
    const incoming = dst.session.incoming(`unix:${path}`);
    expect((await incoming.listening).uri).toBe(`unix:${path}`);
    await src.session.migrate(`unix:${path}`);
    expect((await incoming).status).toBe('completed');
    expect(dst.live.memory.equals(src.live.memory)).toBe(true);
    expect(dst.session.runState.state).toBe(RunState.PAUSED);
  });

  it('a destination that refuses the state (an older device version) fails the source: DESTINATION_FAILED with its words, VM running, devices intact', async () => {
    const src = await makeVm(5, 2);
    const dst = await makeVm(6, 1);
    await src.session.runState.start();
    const before = Buffer.from(src.live.memory);
    const incoming = dst.session.incoming('tcp:127.0.0.1:0');
    const { uri } = await incoming.listening;
    const infos: MigrationInfo[] = [];
    const sub = src.session.source.info$.subscribe((i) => infos.push(i));
    const error = await src.session.migrate(uri).then(
      () => undefined,
      (e: unknown) => e,
    );
    sub.unsubscribe();
    const refused = await incoming.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(MigrationError);
    expect((refused as MigrationError).reason).toBe('VERSION_TOO_NEW');
    expect(error).toBeInstanceOf(MigrationError);
    const e = error as MigrationError;
    expect(e.reason).toBe('DESTINATION_FAILED');
    expect(e.phase).toBe('destination-verdict');
    // The destination's own words travelled back (savevm's extension of the return path).
    expect(e.message).toContain((refused as MigrationError).message);
    expect(src.session.source.info.status).toBe('failed');
    expect(terminalStatuses(infos)).toEqual(['failed']);
    expect(src.session.runState.isRunning).toBe(true);
    expect(src.live.memory.equals(before)).toBe(true);
    expect(src.live.calls).toContain('saveCleanup');
  });

  it('a destination that gives up in the middle (a section it does not know) is reported with its words, not as a broken pipe', async () => {
    const session = await createMigrationSession();
    // One 64 MiB FULL section: the source is inside that write when the destination gives up.
    session.registry.register('big', 0, 1, new BlobDevice(Buffer.alloc(64 << 20, 1)));
    const dst = await makeVm(18);
    await session.runState.start();
    const incoming = dst.session.incoming('tcp:127.0.0.1:0');
    const { uri } = await incoming.listening;
    const error = await session.migrate(uri, { maxBandwidth: 0 }).then(() => undefined, (e: unknown) => e);
    await expect(incoming).rejects.toMatchObject({ reason: 'UNKNOWN_SECTION' });
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).reason).toBe('DESTINATION_FAILED');
    expect((error as MigrationError).message).toContain('"big"');
    expect(session.runState.isRunning).toBe(true);
  });

  it('verifyLoaded refusing the loaded state fails both sides; the destination VM does not start', async () => {
    const src = await makeVm(7);
    const dst = await makeVm(8);
    await src.session.runState.start();
    const incoming = dst.session.incoming('tcp:127.0.0.1:0', {
      autostart: true,
      verifyLoaded: () => {
        throw new Error('checksum mismatch on blob');
      },
    });
    const { uri } = await incoming.listening;
    await expect(src.session.migrate(uri)).rejects.toMatchObject({ reason: 'DESTINATION_FAILED', message: expect.stringContaining('checksum mismatch on blob') });
    await expect(incoming).rejects.toMatchObject({ phase: 'load-verify' });
    expect(dst.session.runState.isRunning).toBe(false);
    expect(src.session.runState.isRunning).toBe(true);
  });

  it('snapshot and restore over file: (no return path: the file closing is the verdict)', async () => {
    const src = await makeVm(9);
    const dst = await makeVm(10);
    await src.session.runState.start();
    await src.session.runState.stop(RunState.PAUSED);
    const file = `file:${join(dir, 'vm.snap')}`;
    const connected: boolean[] = [];
    expect((await src.session.migrate(file, { onConnected: (p) => connected.push(p.returnPath) })).status).toBe('completed');
    expect(connected).toEqual([false]);
    expect((await dst.session.incoming(file)).status).toBe('completed');
    expect(dst.live.memory.equals(src.live.memory)).toBe(true);
  });

  it('an exec: consumer that fails after the last byte fails the migration, and the VM runs again', async () => {
    const src = await makeVm(11);
    await src.session.runState.start();
    const error = await src.session.migrate('exec:cat >/dev/null; exit 5').then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).message).toMatch(/exit|status 5/);
    expect(src.session.source.info.status).toBe('failed');
    expect(src.session.runState.isRunning).toBe(true);
  });

  it('queueCap reaches the writer: a hook that honours rateLimitExceeded() never has more queued than the cap', async () => {
    const src = { session: await createMigrationSession() };
    const dst = { session: await createMigrationSession() };
    let most = 0;
    let sent = 0;
    src.session.registry.register('probe', 0, 1, {
      saveState: (f) => {
        expect(f.queueCap).toBe(256 * 1024);
        // A synchronous hook: nothing is delivered while it runs, so only the cap stops it.
        for (; sent < 64 && !f.rateLimitExceeded(); sent++) {
          f.putU8(1);
          f.putBuffer(Buffer.alloc(64 * 1024, sent), 'copy');
          most = Math.max(most, f.bytesQueued);
        }
        f.putU8(0);
      },
    });
    let received = 0;
    dst.session.registry.register('probe', 0, 1, {
      loadState: async (f) => {
        while ((await f.getU8()) === 1) {
          await f.getBytes(64 * 1024);
          received++;
        }
      },
    });
    const incoming = dst.session.incoming('tcp:127.0.0.1:0');
    const { uri } = await incoming.listening;
    expect((await src.session.migrate(uri, { queueCap: 256 * 1024 })).status).toBe('completed');
    await incoming;
    expect(received).toBe(sent);
    expect(sent).toBeLessThan(64);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);
  });

  it('refuses a return path or switchover-ack on a transport with no way back, before anything moves', async () => {
    const src = await makeVm(12);
    const file = `file:${join(dir, 'refused.snap')}`;
    await expect(src.session.migrate(file, { returnPath: true })).rejects.toMatchObject({ reason: 'INVALID_ARGUMENT' });
    await expect(src.session.migrate(file, { switchoverAck: true })).rejects.toMatchObject({ reason: 'INVALID_ARGUMENT' });
    expect(src.live.calls).toEqual([]);
  });

  it('a blocker refuses migrate before anything connects: no file is created, no destination hears of it', async () => {
    const src = await makeVm(15);
    await src.session.runState.start();
    const blocker = src.session.blockers.add('the GPU cannot be quiesced', 'gpu0');
    const file = join(dir, 'blocked.snap');
    await expect(src.session.migrate(`file:${file}`)).rejects.toMatchObject({
      reason: 'BLOCKED',
      phase: 'blocked',
      message: expect.stringContaining('migration is blocked: gpu0: the GPU cannot be quiesced'),
    });
    expect(existsSync(file)).toBe(false);
    const dst = await makeVm(16);
    const incoming = dst.session.incoming('tcp:127.0.0.1:0');
    const { uri } = await incoming.listening;
    await expect(src.session.migrate(uri)).rejects.toMatchObject({ reason: 'BLOCKED' });
    expect(src.live.calls).toEqual([]);
    expect(src.session.runState.isRunning).toBe(true);
    // The destination still waits for a source: lifting the blocker lets the same migration through.
    blocker.dispose();
    expect((await src.session.migrate(uri)).status).toBe('completed');
    expect((await incoming).status).toBe('completed');
  });

  it('an AbortSignal cancels a live migration: CANCELLED, the VM runs, the destination fails', async () => {
    const src = await makeVm(13);
    const dst = await makeVm(14);
    await src.session.runState.start();
    const incoming = dst.session.incoming('tcp:127.0.0.1:0');
    const { uri } = await incoming.listening;
    const controller = new AbortController();
    // A slow link and a guest that keeps dirtying: the migration is still live when cancelled.
    const dirtying = setInterval(() => src.live.dirty(64), 5);
    setTimeout(() => controller.abort(), 300);
    try {
      await expect(src.session.migrate(uri, { maxBandwidth: 1_000_000, signal: controller.signal })).rejects.toMatchObject({ reason: 'CANCELLED' });
    } finally {
      clearInterval(dirtying);
    }
    expect(src.session.source.info.status).toBe('cancelled');
    expect(src.session.runState.isRunning).toBe(true);
    await expect(incoming).rejects.toBeInstanceOf(MigrationError);
  });

  it('an AbortSignal stops a destination that is still waiting', async () => {
    const dst = await makeVm(15);
    const controller = new AbortController();
    const incoming = dst.session.incoming('tcp:127.0.0.1:0', { signal: controller.signal });
    await incoming.listening;
    controller.abort();
    await expect(incoming).rejects.toMatchObject({ reason: 'CANCELLED' });
  });

  it('a destination that cannot listen rejects `listening` and the result with the same error', async () => {
    const dst = await makeVm(16);
    const incoming = dst.session.incoming('tcp:127.0.0.1:notaport');
    const a = await incoming.listening.then(() => undefined, (e: unknown) => e);
    const b = await incoming.then(() => undefined, (e: unknown) => e);
    expect(a).toBeInstanceOf(MigrationError);
    expect(b).toBe(a);
  });
});
