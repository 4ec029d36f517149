import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { MigrationCancelledError, RunState, type SaveVMHandlers } from '@savevm/core';
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { Errno, V1State, type MemoryMapping } from '@savevm/vfio';
import { EmulatedVfioKernel, V1_DATA_OFFSET, V1_REGION_INDEX } from '@savevm/vfio/emulated';
import { VfioV1TracePoint, type VfioV1TracePayloads } from '../src/tracing.js';
import { LIVE, World, loadFromMemory, processFdCount, saveToMemory, snapshot, v1Device } from './helpers/world.js';

const REGION_SHIFT = 2 ** 40;

/** An emulated kernel that counts pread/pwrite of the v1 region (data section vs registers) and can fail mmap. */
class CountingKernel extends EmulatedVfioKernel {
  dataPreads = 0;
  dataPwrites = 0;
  registerPreads = 0;
  registerPwrites = 0;
  mmapCalls = 0;
  /** When set, every mmap fails with this errno. */
  mmapErrno: number | undefined;
  /** Highest number of live mappings seen at any access to the v1 region. */
  peakMappings = 0;

  override pread(fd: number, into: Uint8Array, offset: number): number {
    this.#count(offset, 'read');
    return super.pread(fd, into, offset);
  }

  override pwrite(fd: number, from: Uint8Array, offset: number): number {
    this.#count(offset, 'write');
    return super.pwrite(fd, from, offset);
  }

  override mmap(fd: number, offset: number, length: number, writable: boolean): MemoryMapping | number {
    this.mmapCalls++;
    if (this.mmapErrno !== undefined) return -this.mmapErrno;
    return super.mmap(fd, offset, length, writable);
  }

  #count(offset: number, op: 'read' | 'write'): void {
    if (Math.floor(offset / REGION_SHIFT) !== V1_REGION_INDEX) return;
    this.peakMappings = Math.max(this.peakMappings, this.mappingCount());
    const data = offset % REGION_SHIFT >= V1_DATA_OFFSET;
    if (data && op === 'read') this.dataPreads++;
    else if (data) this.dataPwrites++;
    else if (op === 'read') this.registerPreads++;
    else this.registerPwrites++;
  }
}

type DataPathEvent = VfioV1TracePayloads['vfio_v1_data_path'];
const events: DataPathEvent[] = [];
const onDataPath = (message: unknown): void => {
  events.push(message as DataPathEvent);
};
diagnosticsChannel.subscribe(VfioV1TracePoint.vfio_v1_data_path, onDataPath);
afterEach(() => {
  events.length = 0;
});

/** A source and a destination world, each device in its own counting kernel. */
async function pair(config: { readonly v1SparseMmap?: boolean; readonly dstDataSection?: number } = {}) {
  const src = new World();
  const dst = new World(RunState.INMIGRATE);
  const srcKernel = new CountingKernel();
  const dstKernel = new CountingKernel();
  const sparse = config.v1SparseMmap === undefined ? {} : { v1SparseMmap: config.v1SparseMmap };
  const from = v1Device({ name: 'dev', seed: 3, dirtyPagesPerRead: 2, ...sparse }, srcKernel);
  const to = v1Device({ name: 'dev', seed: 77, ...sparse, ...(config.dstDataSection !== undefined && { v1DataSectionSize: config.dstDataSection }) }, dstKernel);
  await src.attacher.attach(from.device, 'dev');
  await dst.attacher.attach(to.device, 'dev');
  return { src, dst, srcKernel, dstKernel, from, to };
}

async function roundTrip(p: Awaited<ReturnType<typeof pair>>): Promise<void> {
  const { bytes, info } = await saveToMemory(p.src, LIVE);
  expect(info.status).toBe('completed');
  const sent = snapshot(p.from.model.stateBytes);
  const loaded = await loadFromMemory(p.dst, bytes);
  expect(loaded.status).toBe('completed');
  expect(p.to.model.v1State).toBe(V1State.RUNNING);
  expect(snapshot(p.to.model.stateBytes)).toEqual(sent);
}

describe('v1 data through the mmapped sparse-mmap area', () => {
  it('with the cap, data moves through the mapping (no pread/pwrite of the data section), registers still through pread/pwrite', async () => {
    const p = await pair({ dstDataSection: 4096 }); // a smaller destination section: chunks are split
    await roundTrip(p);
    expect(p.srcKernel.dataPreads).toBe(0);
    expect(p.dstKernel.dataPwrites).toBe(0);
    expect(p.srcKernel.registerPreads).toBeGreaterThan(0);
    expect(p.dstKernel.registerPwrites).toBeGreaterThan(0);
    expect(p.srcKernel.mmapCalls).toBe(1);
    expect(p.dstKernel.mmapCalls).toBe(1);
    expect(p.srcKernel.peakMappings).toBe(1); // mapped while the data moved
    expect(p.dstKernel.peakMappings).toBe(1);
    expect(p.srcKernel.mappingCount()).toBe(0); // unmapped at save and load cleanup
    expect(p.dstKernel.mappingCount()).toBe(0);
    expect(events).toEqual([
      { device: 'dev', phase: 'save-setup', path: 'mmap', areas: 1, reason: '' },
      { device: 'dev', phase: 'load-setup', path: 'mmap', areas: 1, reason: '' },
    ]);
  });

  it('without the cap, data moves through pread/pwrite and nothing is mapped', async () => {
    const p = await pair({ v1SparseMmap: false });
    await roundTrip(p);
    expect(p.srcKernel.dataPreads).toBeGreaterThan(0);
    expect(p.dstKernel.dataPwrites).toBeGreaterThan(0);
    expect(p.srcKernel.mmapCalls + p.dstKernel.mmapCalls).toBe(0);
    expect(events.map((e) => [e.phase, e.path, e.reason])).toEqual([
      ['save-setup', 'pread', 'the migration region has no MMAP flag'],
      ['load-setup', 'pread', 'the migration region has no MMAP flag'],
    ]);
  });

  it('an mmap failure falls back to pread/pwrite for the whole migration, says why, and still migrates', async () => {
    const p = await pair();
    p.srcKernel.mmapErrno = Errno.ENOMEM;
    p.dstKernel.mmapErrno = Errno.EPERM;
    await roundTrip(p);
    expect(p.srcKernel.mmapCalls).toBe(1);
    expect(p.dstKernel.mmapCalls).toBe(1);
    expect(p.srcKernel.dataPreads).toBeGreaterThan(0);
    expect(p.dstKernel.dataPwrites).toBeGreaterThan(0);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ phase: 'save-setup', path: 'pread', areas: 0 });
    expect(events[0]!.reason).toMatch(/mmap of area @4096\+16384 failed: .*ENOMEM/);
    expect(events[1]!.reason).toMatch(/EPERM/);
  });
});

describe('no mapping (and no fd) is left behind by a cancel or a failure', () => {
  it('cancelled during iterate: unmapped, device RUNNING, fds as before', async () => {
    const world = new World();
    const kernel = new CountingKernel();
    const { device, model } = v1Device({ name: 'dev' }, kernel);
    const fdsBefore = processFdCount();
    const kernelFds = kernel.openFds();
    await world.attacher.attach(device, 'dev');
    let mappedDuringIterate = -1;
    const canceller: SaveVMHandlers = {
      statePendingEstimate: () => ({ mustPrecopy: 0, canPostcopy: 0 }),
      saveLiveIterate: () => {
        mappedDuringIterate = kernel.mappingCount();
        world.source.cancel();
        return true;
      },
    };
    world.registry.register('canceller', 0, 1, canceller);
    const error = await saveToMemory(world, LIVE).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MigrationCancelledError);
    expect(mappedDuringIterate).toBe(1);
    expect(kernel.mappingCount()).toBe(0);
    expect(model.v1State).toBe(V1State.RUNNING);
    expect(kernel.openFds()).toEqual(kernelFds);
    expect(processFdCount()).toBe(fdsBefore);
  });

  it('save setup refused by the device: the mapping made just before is released', async () => {
    const world = new World();
    const kernel = new CountingKernel();
    const { device, model } = v1Device({ name: 'dev' }, kernel);
    await world.attacher.attach(device, 'dev');
    model.failArc({ from: V1State.RUNNING, to: V1State.RUNNING | V1State.SAVING, errno: Errno.EBUSY });
    await expect(saveToMemory(world, LIVE)).rejects.toThrow(/EBUSY/);
    expect(kernel.mmapCalls).toBe(1);
    expect(kernel.mappingCount()).toBe(0);
    expect(model.v1State).toBe(V1State.RUNNING);
  });

  it('a data failure mid-save: unmapped, device RUNNING', async () => {
    const world = new World();
    const kernel = new CountingKernel();
    const { device, model } = v1Device({ name: 'dev' }, kernel);
    await world.attacher.attach(device, 'dev');
    model.failDataRead({ afterBytes: 20_000, errno: Errno.EIO });
    await expect(saveToMemory(world, LIVE)).rejects.toThrow(/EIO/);
    expect(kernel.mappingCount()).toBe(0);
    expect(model.v1State).toBe(V1State.RUNNING);
  });

  it('a load that fails on a truncated stream: unmapped, destination device reset to RUNNING', async () => {
    const p = await pair();
    const { bytes } = await saveToMemory(p.src, LIVE);
    const before = snapshot(p.to.model.stateBytes);
    const dstFds = p.dstKernel.openFds();
    const truncated = bytes.subarray(0, Math.floor(bytes.byteLength / 2));
    await expect(p.dst.destination.load(new QemuFileReader(new MemoryReadChannel(truncated)), { autostart: true })).rejects.toThrow();
    expect(p.dstKernel.peakMappings).toBe(1);
    expect(p.dstKernel.mappingCount()).toBe(0);
    expect(p.dstKernel.openFds()).toEqual(dstFds);
    expect(p.to.model.v1State).toBe(V1State.RUNNING);
    expect(snapshot(p.to.model.stateBytes)).toEqual(before);
  });

  it('closing the device releases a mapping a migration still held', async () => {
    const kernel = new CountingKernel();
    const { device } = v1Device({ name: 'dev' }, kernel);
    const world = new World();
    const attached = await world.attacher.attach(device, 'dev');
    await attached.entry.handlers.saveSetup?.(new QemuFileWriter(new MemoryWriteChannel()), attached.entry);
    expect(kernel.mappingCount()).toBe(1);
    device.close();
    expect(kernel.mappingCount()).toBe(0);
    expect(kernel.openFds()).toEqual([]);
  });
});
