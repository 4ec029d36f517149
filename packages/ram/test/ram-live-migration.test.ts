/**
 * Guest RAM migrated by whole migrations: live through `@savevm/session` over unix: while
 * a guest keeps dirtying pages (pages sent again, memory equal at the end), a paused
 * snapshot over file:, and through the core drivers into memory with a slow link.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectSameRam, twoBlockVm } from './helpers/two-block-vm.js';
import { busyGuest } from './helpers/busy-guest.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-ram-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1 << 20;
/** The source's blocks: seeded, every 4th page of pc.ram zero. */
const SOURCE = { seed: 11, zeroEvery: 4 };

describe('guest RAM through whole migrations', () => {
  it('live over unix: with a guest dirtying pages during pre-copy: several rounds, pages sent again, memory equal', async () => {
    const src = await twoBlockVm(SOURCE);
    const dst = await twoBlockVm('garbage');
    await src.session.runState.start();
    const path = join(dir, 'live.sock');
    const incoming = dst.session.incoming(`unix:${path}`);
    await incoming.listening;
    const guest = busyGuest(src.ram, src.session.runState, 2, 1);
    let info;
    try {
      // 8.25 MiB at 32 MiB/s: about 260 ms per full pass, so the guest has time to write.
      info = await src.session.migrate(`unix:${path}`, { maxBandwidth: 32 * MiB, downtimeLimitMs: 30 });
    } finally {
      guest.stop();
    }
    expect(info.status).toBe('completed');
    expect((await incoming).status).toBe('completed');
    expect(guest.writes).toBeGreaterThan(0);
    expect(info.iterations).toBeGreaterThan(1);
    const stats = src.handlers.saver.stats;
    const pages = src.ram.blocks.reduce((n, b) => n + b.pageCount, 0);
    expect(stats.pages + stats.zeroPages).toBeGreaterThan(pages);
    expect(stats.syncs).toBeGreaterThan(2);
    expect(src.ram.migrating).toBe(false);
    expect(dst.ram.migrating).toBe(false);
    expectSameRam(src.ram, dst.ram);
  });

  it('a paused snapshot over file: sends everything in the END section; zero pages as ZERO records', async () => {
    const src = await twoBlockVm(SOURCE);
    const dst = await twoBlockVm('garbage');
    const file = join(dir, 'snap.mig');
    const info = await src.session.migrate(`file:${file}`);
    expect(info.status).toBe('completed');
    expect(info.iterations).toBe(0);
    expect((await dst.session.incoming(`file:${file}`)).status).toBe('completed');
    expectSameRam(src.ram, dst.ram);
    const main = src.ram.block('pc.ram');
    expect(src.handlers.saver.stats.zeroPages).toBe((main?.pageCount ?? 0) / 4);
    expect(dst.handlers.loader.stats.zeroPages).toBe((main?.pageCount ?? 0) / 4);
  });

  it('a failed migration stops every dirty source and frees the block list on both sides', async () => {
    const src = await twoBlockVm(SOURCE);
    const dst = await twoBlockVm('garbage');
    dst.ram.removeBlock('0000:00:02.0/vga.vram');
    dst.ram.addBlock('0000:00:02.0/vga.vram', Buffer.alloc(128 * 1024));
    await src.session.runState.start();
    const path = join(dir, 'fail.sock');
    const incoming = dst.session.incoming(`unix:${path}`);
    await incoming.listening;
    const failed = src.session.migrate(`unix:${path}`).then(
      () => undefined,
      (e: unknown) => e,
    );
    const loadErr = await incoming.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(loadErr)).toContain('Size mismatch: 0000:00:02.0/vga.vram: 0x40000 != 0x20000: Invalid argument');
    expect(await failed).toMatchObject({ reason: 'DESTINATION_FAILED' });
    expect(src.session.runState.isRunning).toBe(true);
    expect(src.ram.migrating).toBe(false);
    expect(dst.ram.migrating).toBe(false);
    for (const b of src.ram.blocks) expect(src.ram.software.isTracking(b)).toBe(false);
  });
});
