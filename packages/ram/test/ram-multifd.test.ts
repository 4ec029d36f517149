/**
 * Guest RAM over multifd channels (docs/design/multifd.md): live migrations through
 * `@savevm/session` with 2 and 4 channels, in QEMU 7.2's way (zero pages on the main
 * stream, a barrier at every section end) and QEMU 10.0's (zero pages in packets, one
 * barrier per pass with MULTIFD_FLUSH), while a guest keeps dirtying pages.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StreamCompat } from '@savevm/core';
import { afterAll, describe, expect, it } from 'vitest';
import { expectSameRam, twoBlockVm } from './helpers/two-block-vm.js';
import { busyGuest } from './helpers/busy-guest.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-ram-multifd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1 << 20;
/** The source's blocks: seeded, every 3th page of pc.ram zero. */
const SOURCE = { seed: 21, zeroEvery: 3 };

describe.each<[StreamCompat, number]>([
  ['qemu-7.2', 2],
  ['qemu-10.0', 2],
  ['qemu-10.0', 4],
])('guest RAM over multifd (%s, %i channels)', (streamCompat, channels) => {
  it('live over unix: with a guest dirtying pages: every page lands, the channels carry them', async () => {
    const src = await twoBlockVm(SOURCE);
    const dst = await twoBlockVm('garbage');
    await src.session.runState.start();
    const path = join(dir, `live-${streamCompat}-${channels}.sock`);
    const incoming = dst.session.incoming(`unix:${path}`, { multifdChannels: channels });
    await incoming.listening;
    const guest = busyGuest(src.ram, src.session.runState, 2, 1);
    let info;
    try {
      info = await src.session.migrate(`unix:${path}`, { maxBandwidth: 32 * MiB, downtimeLimitMs: 30, multifdChannels: channels, streamCompat });
    } finally {
      guest.stop();
    }
    expect(info.status).toBe('completed');
    expect((await incoming).status).toBe('completed');
    expect(guest.writes).toBeGreaterThan(0);
    const sent = src.handlers.saver.stats;
    const loaded = dst.handlers.loader.stats;
    expect(sent.multifdPages).toBeGreaterThan(0);
    expect(loaded.multifdPages).toBe(sent.multifdPages);
    // QEMU 7.2 finds zero pages before multifd: they stay on the main stream.
    if (streamCompat === 'qemu-7.2') expect(sent.multifdPages).toBe(sent.pages);
    else expect(sent.multifdPages).toBe(sent.pages + sent.zeroPages);
    expectSameRam(src.ram, dst.ram);
    expect(src.ram.migrating).toBe(false);
    expect(dst.ram.migrating).toBe(false);
  });
});

describe('guest RAM over multifd on tcp:', () => {
  it('a paused VM with 4 channels over tcp: moves byte-equal', async () => {
    const src = await twoBlockVm(SOURCE);
    const dst = await twoBlockVm('garbage');
    const incoming = dst.session.incoming('tcp:127.0.0.1:0', { multifdChannels: 4, uuid: '11223344-5566-7788-99aa-bbccddeeff00' });
    const { uri } = await incoming.listening;
    const info = await src.session.migrate(uri, { multifdChannels: 4, uuid: '11223344-5566-7788-99aa-bbccddeeff00', streamCompat: 'qemu-10.0' });
    expect(info.status).toBe('completed');
    expect((await incoming).status).toBe('completed');
    expectSameRam(src.ram, dst.ram);
  });
});
