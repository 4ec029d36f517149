/**
 * Live migrations of guest RAM plus an emulated VFIO device that writes guest pages by DMA
 * all through pre-copy, through the session API: with each DMA dirty-tracking mechanism the
 * destination's RAM equals the source's byte for byte; with DMA tracking left out it does
 * not (the check can fail). Also the gate, unmap during a migration, the blocker and the
 * forced mode (docs/design/vfio-dirty-tracking.md §6).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MigState, VfioFeature, VfioFeatureFlags, VfioIoctl, VfioIommuIoctl, type DmaDirtyMechanism } from '@savevm/vfio';
import { differingPages, dmaWriter, rigVm, type RigSpec, type RigVm } from './helpers/dma-rig.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-dma-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let socketCount = 0;

const MiB = 1 << 20;
const RUNNING_STATES = [MigState.RUNNING, MigState.RUNNING_P2P, MigState.PRE_COPY, MigState.PRE_COPY_P2P];

interface LiveResult {
  readonly src: RigVm;
  readonly dst: RigVm;
  readonly differing: number[];
  readonly iterations: number;
  readonly dmaPages: number;
  readonly mechanism: DmaDirtyMechanism | 'none';
}

/** Migrates a running source with a DMA writer over unix:, then compares the RAM. */
async function live(spec: RigSpec, rate = 3000, downtimeLimitMs = 30): Promise<LiveResult> {
  const src = await rigVm(spec, 'source');
  const dst = await rigVm(spec, 'destination');
  const mechanism = src.tracking.chooseMechanism();
  await src.session.runState.start();
  const path = join(dir, `s${socketCount++}.sock`);
  const incoming = dst.session.incoming(`unix:${path}`);
  await incoming.listening;
  const writer = dmaWriter(src, rate);
  writer.start();
  let info;
  try {
    info = await src.session.migrate(`unix:${path}`, { maxBandwidth: 16 * MiB, downtimeLimitMs });
  } finally {
    writer.stop();
  }
  expect(info.status).toBe('completed');
  expect((await incoming).status).toBe('completed');
  const differing = differingPages(src.block.bytes, dst.block.bytes);
  src.close();
  dst.close();
  return { src, dst, differing, iterations: info.iterations, dmaPages: writer.pagesWritten, mechanism };
}

/** DMA happened during pre-copy and never while the device was stopped. */
function expectDmaThroughPreCopy(vm: RigVm): void {
  const states = [...vm.model.dma.writesByState.keys()];
  expect(states.every((s) => RUNNING_STATES.includes(s as never)), `states ${states.join(',')}`).toBe(true);
  expect(vm.model.dma.writesByState.get(MigState.PRE_COPY) ?? 0).toBeGreaterThan(0);
}

describe('a live migration with a device writing guest RAM by DMA', () => {
  const mechanisms: { mechanism: DmaDirtyMechanism; spec: RigSpec }[] = [
    { mechanism: 'device-dma-logging', spec: { mechanism: 'device-dma-logging' } },
    { mechanism: 'type1-container', spec: { mechanism: 'type1-container', options: { enableMigration: 'on' } } },
    { mechanism: 'iommufd-hwpt', spec: { mechanism: 'iommufd-hwpt' } },
  ];
  for (const { mechanism, spec } of mechanisms) {
    it(`${mechanism}: the destination's RAM equals the source's byte for byte`, async () => {
      const r = await live(spec);
      expect(r.mechanism).toBe(mechanism);
      expect(r.iterations).toBeGreaterThan(1);
      expect(r.dmaPages).toBeGreaterThan(50);
      expectDmaThroughPreCopy(r.src);
      expect(r.src.handlers.saver.stats.pages + r.src.handlers.saver.stats.zeroPages).toBeGreaterThan(r.src.block.pageCount);
      expect(r.differing).toEqual([]);
      expect(r.src.tracking.tracking).toBe(false);
    });
    it(`${mechanism}, the same run with DMA tracking left out: the RAM differs`, async () => {
      const r = await live({ ...spec, dmaTracking: false });
      expectDmaThroughPreCopy(r.src);
      expect(r.differing.length).toBeGreaterThan(0);
    });
  }

  it('the gate: with pre-copy dirty tracking off no report is read while the device runs; the switchover sync reads them all', async () => {
    const spec: RigSpec = { mechanism: 'device-dma-logging', options: { preCopyDirtyTracking: false } };
    const src = await rigVm(spec, 'source');
    const dst = await rigVm(spec, 'destination');
    const reports: number[] = [];
    const ioctl = src.kernel.ioctl.bind(src.kernel);
    src.kernel.ioctl = (fd, request, arg) => {
      if (request === VfioIoctl.DEVICE_FEATURE && arg !== null) {
        const flags = new DataView(arg.buffer, arg.byteOffset).getUint32(4, true);
        if ((flags & VfioFeatureFlags.MASK) === VfioFeature.DMA_LOGGING_REPORT) reports.push(src.model.migState);
      }
      return ioctl(fd, request, arg);
    };
    await src.session.runState.start();
    const path = join(dir, `s${socketCount++}.sock`);
    const incoming = dst.session.incoming(`unix:${path}`);
    await incoming.listening;
    const writer = dmaWriter(src, 3000);
    writer.start();
    const info = await src.session.migrate(`unix:${path}`, { maxBandwidth: 16 * MiB, downtimeLimitMs: 30 }).finally(() => writer.stop());
    await incoming;
    expect(info.iterations).toBeGreaterThan(1);
    expectDmaThroughPreCopy(src);
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.every((s) => !RUNNING_STATES.includes(s as never)), `states at REPORT: ${reports.join(',')}`).toBe(true);
    expect(differingPages(src.block.bytes, dst.block.bytes)).toEqual([]);
    src.close();
    dst.close();
  });

  for (const mechanism of ['device-dma-logging', 'type1-container', 'iommufd-hwpt'] as const) {
    it(`${mechanism}: an unmap during pre-copy fetches the block's bits first; the page written just before arrives`, async () => {
      const spec: RigSpec = { mechanism, extraBytes: 256 * 1024, options: mechanism === 'type1-container' ? { enableMigration: 'on' } : {} };
      const src = await rigVm(spec, 'source');
      const dst = await rigVm(spec, 'destination');
      const extra = src.extra!;
      const calls: string[] = [];
      const ioctl = src.kernel.ioctl.bind(src.kernel);
      src.kernel.ioctl = (fd, request, arg) => {
        if (request === VfioIommuIoctl.UNMAP_DMA && arg !== null) calls.push(`UNMAP_DMA flags ${new DataView(arg.buffer, arg.byteOffset).getUint32(4, true)}`);
        return ioctl(fd, request, arg);
      };
      // A source synced after the VFIO one: on the third sync the device writes a page of
      // the extra block, then the VMM unmaps the block.
      let syncs = 0;
      src.ram.addDirtySource({
        name: 'unmapper',
        start: () => {},
        stop: () => {},
        sync: (block) => {
          if (block !== extra || ++syncs !== 3) return;
          expect(src.model.dma.writeAt(extra.guestAddress! + 9 * 4096 + 64, Buffer.from('written by DMA just before the unmap'))).toBe(true);
          expect(src.tracking.unmapBlock(extra)).toBe(true);
        },
      });
      await src.session.runState.start();
      const path = join(dir, `s${socketCount++}.sock`);
      const incoming = dst.session.incoming(`unix:${path}`);
      await incoming.listening;
      const writer = dmaWriter(src, 2000);
      writer.start();
      await src.session.migrate(`unix:${path}`, { maxBandwidth: 16 * MiB, downtimeLimitMs: 30 }).finally(() => writer.stop());
      await incoming;
      expect(syncs).toBeGreaterThanOrEqual(3);
      expect(src.tracking.isMapped(extra)).toBe(false);
      expect(Buffer.from(dst.extra!.bytes.subarray(9 * 4096 + 64, 9 * 4096 + 100)).toString()).toBe('written by DMA just before the unmap');
      expect(differingPages(extra.bytes, dst.extra!.bytes)).toEqual([]);
      expect(differingPages(src.block.bytes, dst.block.bytes)).toEqual([]);
      if (mechanism === 'type1-container') expect(calls).toContain('UNMAP_DMA flags 1');
      src.close();
      dst.close();
    });
  }
});

describe('QEMU 8.1: a device without DMA dirty tracking', () => {
  it('blocks migration with a blocker naming the device; the VM keeps running', async () => {
    const src = await rigVm({ mechanism: 'type1-container' }, 'source');
    expect(src.session.blockers.list()).toEqual([{ owner: 'gpu0', reason: "VFIO device doesn't support device and IOMMU dirty tracking" }]);
    await src.session.runState.start();
    const failure = await src.session.migrate(`file:${join(dir, 'blocked.mig')}`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toMatchObject({ reason: 'BLOCKED', phase: 'blocked' });
    expect(String(failure)).toContain("gpu0: VFIO device doesn't support device and IOMMU dirty tracking");
    expect(src.session.runState.isRunning).toBe(true);
    expect(src.model.migState).toBe(MigState.RUNNING);
    src.close();
  });

  it('forced (enable-migration=on) with nothing that sees its DMA: every mapped page is dirty at every sync, and the RAM arrives whole', async () => {
    // An emulated device on iommufd: no DMA logging, no HWPT of its own.
    const spec: RigSpec = { mechanism: 'none', options: { enableMigration: 'on' } };
    const src = await rigVm(spec, 'source');
    const dst = await rigVm(spec, 'destination');
    expect(src.tracking.chooseMechanism()).toBe('none');
    expect(src.tracking.devices[0]?.forced).toBe(true);
    expect(src.tracking.warnings.join('\n')).toContain('gpu0');
    expect(src.session.blockers.list()).toEqual([]);
    // a source synced after the VFIO one sees the bitmap right after VFIO's part of each sync
    const seen: number[] = [];
    src.ram.addDirtySource({ name: 'observer', start: () => {}, stop: () => {}, sync: (_block, into) => void seen.push(into.count) });
    await src.session.runState.start();
    const path = join(dir, `s${socketCount++}.sock`);
    const incoming = dst.session.incoming(`unix:${path}`);
    await incoming.listening;
    const writer = dmaWriter(src, 2000);
    writer.start();
    // every pass re-sends the whole 4 MiB: a downtime limit it fits in lets it switch over
    await src.session.migrate(`unix:${path}`, { maxBandwidth: 16 * MiB, downtimeLimitMs: 2000 }).finally(() => writer.stop());
    await incoming;
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every((n) => n === src.block.pageCount), `dirty pages after each sync: ${seen.join(',')}`).toBe(true);
    expect(writer.pagesWritten).toBeGreaterThan(0);
    expect(differingPages(src.block.bytes, dst.block.bytes)).toEqual([]);
    src.close();
    dst.close();
  });
});
