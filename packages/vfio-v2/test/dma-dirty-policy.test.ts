/**
 * The DMA dirty-tracking policy on its own, driven by `@savevm/ram`'s DirtyTracker: which
 * mechanism for which devices, the blockers, the ranges device logging is started on, a
 * device that the IOMMU mechanism cannot see (docs/design/vfio-dirty-tracking.md §6).
 */
import { describe, expect, it } from 'vitest';
import { MigrationBlockers } from '@savevm/core';
import { DirtyTracker, GuestRam } from '@savevm/ram';
import { IommufdContext, VfioContainer } from '@savevm/vfio';
import { EmulatedVfioKernel, type EmulatedDeviceConfig } from '@savevm/vfio/emulated';
import { IommufdDmaBackend, Type1DmaBackend, VfioDmaDirtyTracking } from '../src/index.js';
import { insideRanges, loggingRanges } from '../src/dirty/dma-log-ranges.js';
import { NO_DMA_DIRTY_TRACKING } from '../src/dirty/vfio-dma-dirty-tracking.js';

function type1World(configs: readonly EmulatedDeviceConfig[]) {
  const kernel = new EmulatedVfioKernel();
  const nodes = configs.map((c, i) => kernel.addDevice({ name: `d${i}`, ...c }, 0));
  const container = VfioContainer.open({ syscalls: kernel });
  const devices = nodes.map((n) => container.openDevice(n));
  const blockers = new MigrationBlockers();
  const tracking = new VfioDmaDirtyTracking(new Type1DmaBackend(container), { blockers });
  return { kernel, nodes, devices, blockers, tracking, container };
}

function iommufdWorld(configs: readonly EmulatedDeviceConfig[]) {
  const kernel = new EmulatedVfioKernel();
  const nodes = configs.map((c, i) => kernel.addDevice({ name: `d${i}`, ...c }));
  const context = IommufdContext.open({ syscalls: kernel });
  const devices = nodes.map((n) => context.openDevice(n));
  const blockers = new MigrationBlockers();
  const tracking = new VfioDmaDirtyTracking(new IommufdDmaBackend(context), { blockers });
  return { kernel, nodes, devices, blockers, tracking, context };
}

describe('which mechanism', () => {
  it('device logging when every device has it; one without: the container, and a blocker naming it', () => {
    const both = type1World([{ dmaLogging: true }, { dmaLogging: true }]);
    both.devices.forEach((d) => both.tracking.addDevice(d));
    expect(both.tracking.chooseMechanism()).toBe('device-dma-logging');
    expect(both.blockers.list()).toEqual([]);
    const mixed = type1World([{ dmaLogging: true }, {}]);
    const handles = mixed.devices.map((d) => mixed.tracking.addDevice(d));
    expect(mixed.tracking.chooseMechanism()).toBe('type1-container');
    expect(mixed.blockers.list()).toEqual([{ owner: 'd1', reason: NO_DMA_DIRTY_TRACKING }]);
    expect(handles.map((h) => h.blocked)).toEqual([false, true]);
    handles[1]?.remove();
    expect(mixed.blockers.list()).toEqual([]);
    expect(mixed.tracking.chooseMechanism()).toBe('device-dma-logging');
  });
  it('x-device-dirty-page-tracking=off: the device does not log, so the IOMMU is used and the device is blocked (type1 does not count)', () => {
    const w = type1World([{ dmaLogging: true }]);
    const h = w.tracking.addDevice(w.devices[0]!, { deviceDirtyTracking: false });
    expect(h.tracked.logging).toBeUndefined();
    expect(h.blocked).toBe(true);
    expect(w.tracking.chooseMechanism()).toBe('type1-container');
  });
  it('iommufd: a physical device whose IOMMU tracks gets a HWPT with dirty tracking and no blocker; an mdev gets the IOAS and a blocker', () => {
    const w = iommufdWorld([{ iommu: 'physical', iommuDirtyTracking: true }, {}]);
    const [a, b] = w.devices.map((d) => w.tracking.addDevice(d));
    expect(a?.tracked.dirtyHwpt).toBeGreaterThan(0);
    expect(a?.blocked).toBe(false);
    expect(b?.tracked.dirtyHwpt).toBeUndefined();
    expect(b?.tracked.iommuRefusal?.errno).toBe('ENOENT');
    expect(b?.blocked).toBe(true);
    expect(w.tracking.chooseMechanism()).toBe('iommufd-hwpt');
    expect(w.nodes[1]?.model.dma.target?.kind).toBe('iommufd-ioas');
    expect(w.nodes[0]?.model.dma.target?.kind).toBe('iommufd-hwpt');
  });
  it('a device the HWPT mechanism cannot see (forced): every page of a mapped block is dirty at every sync', async () => {
    const w = iommufdWorld([{ iommu: 'physical', iommuDirtyTracking: true }, {}]);
    w.tracking.addDevice(w.devices[0]!);
    w.tracking.addDevice(w.devices[1]!, { enableMigration: 'on' });
    expect(w.blockers.list()).toEqual([]);
    const ram = new GuestRam();
    const block = ram.addBlock('pc.ram', Buffer.alloc(1 << 20), { guestAddress: 0 });
    const unmapped = ram.addBlock('rom', Buffer.alloc(64 * 1024), { guestAddress: 1 << 30 });
    w.tracking.mapBlock(block);
    const tracker = new DirtyTracker(ram.blocks, [w.tracking]);
    await tracker.start();
    for (let i = 0; i < 3; i++) {
      tracker.bitmaps.forEach((b) => b.clearAll());
      await tracker.sync();
      expect(tracker.bitmaps[0]?.count).toBe(block.pageCount);
      expect(tracker.bitmaps[1]?.count).toBe(0); // not mapped: no device can write it
    }
    await tracker.stop();
    expect(unmapped.pageCount).toBe(16);
  });
  it('device logging is started on QEMU\'s ranges: below 4 GiB and above; a block mapped later is outside them and all dirty', async () => {
    const w = type1World([{ dmaLogging: true }]);
    w.tracking.addDevice(w.devices[0]!);
    const ram = new GuestRam();
    const low = ram.addBlock('low', Buffer.alloc(1 << 20), { guestAddress: 0x100000 });
    const high = ram.addBlock('high', Buffer.alloc(1 << 20), { guestAddress: 2 ** 32 });
    const late = ram.addBlock('late', Buffer.alloc(64 * 1024), { guestAddress: 0x40000000 });
    w.tracking.mapBlock(low);
    w.tracking.mapBlock(high);
    const tracker = new DirtyTracker(ram.blocks, [w.tracking]);
    await tracker.start();
    expect(w.nodes[0]?.model.dma.log.ranges.map(({ iova, length }) => ({ iova, length }))).toEqual([
      { iova: 0x100000, length: 1 << 20 },
      { iova: 2 ** 32, length: 1 << 20 },
    ]);
    w.tracking.mapBlock(late);
    tracker.bitmaps.forEach((b) => b.clearAll());
    w.nodes[0]?.model.dma.writeAt(0x100000 + 5 * 4096, new Uint8Array(1));
    await tracker.sync();
    expect(tracker.bitmaps.map((b) => b.count)).toEqual([1, 0, late.pageCount]);
    await tracker.stop();
    expect(w.nodes[0]?.model.dma.log.active).toBe(false);
  });
  it('two devices logging: each is asked for its report, into one bitmap', async () => {
    const w = type1World([{ dmaLogging: true }, { dmaLogging: true }]);
    w.devices.forEach((d) => w.tracking.addDevice(d));
    const ram = new GuestRam();
    const block = ram.addBlock('pc.ram', Buffer.alloc(1 << 20), { guestAddress: 0 });
    w.tracking.mapBlock(block);
    const tracker = new DirtyTracker(ram.blocks, [w.tracking]);
    await tracker.start();
    tracker.bitmaps[0]?.clearAll();
    w.nodes[0]?.model.dma.writeAt(3 * 4096, new Uint8Array(1));
    w.nodes[1]?.model.dma.writeAt(7 * 4096, new Uint8Array(1));
    await tracker.sync();
    const bm = tracker.bitmaps[0]!;
    expect([bm.test(3), bm.test(7), bm.count]).toEqual([true, true, 2]);
    await tracker.stop();
  });
});

describe('the VMM\'s mistakes', () => {
  it('devices cannot come or go while a migration tracks; a block needs a guest address', async () => {
    const w = type1World([{ dmaLogging: true }, { dmaLogging: true }]);
    const h = w.tracking.addDevice(w.devices[0]!);
    const ram = new GuestRam();
    const block = ram.addBlock('pc.ram', Buffer.alloc(1 << 20), { guestAddress: 0 });
    expect(() => w.tracking.mapBlock(ram.addBlock('nowhere', Buffer.alloc(4096)))).toThrow(/no guest address/);
    w.tracking.mapBlock(block);
    const tracker = new DirtyTracker([block], [w.tracking]);
    await tracker.start();
    expect(() => w.tracking.addDevice(w.devices[1]!)).toThrow(/while a migration tracks/);
    expect(() => h.remove()).toThrow(/while a migration tracks/);
    await tracker.stop();
    h.remove();
  });
});

describe('ranges', () => {
  it('loggingRanges splits at 4 GiB; insideRanges', () => {
    expect(loggingRanges([])).toEqual([]);
    const ranges = loggingRanges([
      { iova: 0x1000, length: 0x1000 },
      { iova: 0xc0000000, length: 0x40000000 },
      { iova: 2 ** 33, length: 0x1000 },
      { iova: 2 ** 32, length: 0x2000 },
    ]);
    expect(ranges).toEqual([
      { iova: 0x1000, length: 2 ** 32 - 0x1000 },
      { iova: 2 ** 32, length: 2 ** 32 + 0x1000 },
    ]);
    expect(insideRanges(ranges, 0x2000, 0x1000)).toBe(true);
    expect(insideRanges(ranges, 0, 0x1000)).toBe(false);
  });
});
