/**
 * The template device migrates through the core drivers, wired by inversify: memory sent
 * live while the guest keeps writing (dirty pages sent again), registers in a FULL
 * section described field by field, and everything equal on the destination.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import {
  DEVICE_MIGRATION_ATTACHER,
  MIGRATION_DESTINATION,
  MIGRATION_SOURCE,
  MigrationError,
  PROVIDER_SELECTOR,
  RUN_STATE_CONTROLLER,
  TracePoint,
  coreContainerModule,
  type DeviceMigrationAttacher,
  type MigrationDestination,
  type MigrationSource,
  type ProviderSelector,
  type RunStateController,
  type SectionTrace,
} from '@savevm/core';
import { inspectStream } from '@savevm/inspect';
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { STATUS_FAULT, Scratchpad, ScratchpadLoadError, scratchpadContainerModule } from '../src/index.js';

/** A VM: the core services plus the scratchpad provider. */
function vm(): Container {
  const c = new Container();
  c.load(coreContainerModule, scratchpadContainerModule);
  return c;
}

/** A guest that writes a few pages every live round, for the first `rounds` rounds. */
function busyGuest(device: Scratchpad, rounds: number): { stop(): void; writes: number } {
  const guest = { writes: 0, stop: () => diagnosticsChannel.unsubscribe(TracePoint.savevm_state_iterate, onRound) };
  function onRound(message: unknown): void {
    const { iteration } = message as { iteration: number };
    if (iteration > rounds) return;
    for (const page of [1, 7, (30 + iteration) % device.pageCount]) {
      device.write(page * device.pageSize + iteration, Buffer.from(`round ${iteration} page ${page}`));
      guest.writes++;
    }
  }
  diagnosticsChannel.subscribe(TracePoint.savevm_state_iterate, onRound);
  return guest;
}

async function migrate(source: Container, destination: Container): Promise<{ bytes: Buffer; iterations: number; pagesSent: number }> {
  await source.get<RunStateController>(RUN_STATE_CONTROLLER).start();
  const channel = new MemoryWriteChannel();
  let parts = 0;
  const onSection = (m: unknown): void => {
    if ((m as SectionTrace).type === 'part') parts++;
  };
  diagnosticsChannel.subscribe(TracePoint.savevm_section_start, onSection);
  const info = await source
    .get<MigrationSource>(MIGRATION_SOURCE)
    // A slow link (1 kB/s × 300 ms downtime = 300 bytes): the driver iterates until
    // almost nothing is dirty, which needs the guest to stop writing first.
    .migrate(new QemuFileWriter(channel), { maxBandwidth: 0, availSwitchoverBandwidth: 1000 })
    .finally(() => diagnosticsChannel.unsubscribe(TracePoint.savevm_section_start, onSection));
  expect(info.status).toBe('completed');
  const bytes = channel.bytes();
  await destination.get<MigrationDestination>(MIGRATION_DESTINATION).load(new QemuFileReader(new MemoryReadChannel(bytes)), { machine: 'none' });
  return { bytes, iterations: info.iterations, pagesSent: parts };
}

describe('the scratchpad template device', () => {
  it('migrates live memory while the guest writes, and its registers, through the inversify-wired drivers', async () => {
    const source = vm();
    const src = new Scratchpad({ id: '0000:00:05.0', pageCount: 64, pageSize: 256 });
    for (let page = 0; page < src.pageCount; page++) src.write(page * src.pageSize, Buffer.from(`initial ${page}`));
    src.registers = { ...src.registers, control: 0x5a, status: STATUS_FAULT, irqMask: 0x0f0f, label: Buffer.from('scratch'), faultAddress: 0xdead };
    const attached = await source.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach(src);
    expect(attached.provider.name).toBe('scratchpad');
    expect(attached.entry.idstr).toBe('0000:00:05.0/scratchpad');

    const destination = vm();
    const dst = new Scratchpad({ id: '0000:00:05.0', pageCount: 64, pageSize: 256 });
    await destination.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach(dst);

    const guest = busyGuest(src, 4);
    const { bytes, iterations } = await migrate(source, destination).finally(() => guest.stop());
    expect(guest.writes).toBe(12);
    expect(iterations).toBeGreaterThanOrEqual(8); // 64 pages at 8 per round, plus the re-dirtied ones

    expect(dst.memory.equals(src.memory)).toBe(true);
    expect(dst.registers).toEqual({ ...src.registers, labelLength: 7, label: Buffer.from('scratch') });
    expect(src.dirtyPageCount).toBe(0);

    // The registers' FULL section is described field by field in the vmdesc.
    const inspection = await inspectStream(bytes);
    const full = inspection.records.find((r) => r.record.type === 'full');
    expect(full?.fields?.fields.map((f) => f.name)).toEqual(['control', 'status', 'writes', 'label_length', 'label', 'irq_mask']);
    expect(full?.fields?.subsections.map((s) => [s.vmsdName, s.fields[0]?.value])).toEqual([['scratchpad/fault', 0xdead]]);
  });

  it('pages the guest dirtied after they were sent are sent again', async () => {
    const source = vm();
    const src = new Scratchpad({ id: 'pad', pageCount: 16, pageSize: 64 });
    await source.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach(src);
    const destination = vm();
    const dst = new Scratchpad({ id: 'pad', pageCount: 16, pageSize: 64 });
    await destination.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach(dst);
    const guest = busyGuest(src, 3);
    const { iterations } = await migrate(source, destination).finally(() => guest.stop());
    expect(iterations).toBeGreaterThanOrEqual(3);
    expect(dst.page(1).subarray(0, 32)).toEqual(src.page(1).subarray(0, 32));
    expect(dst.memory.equals(src.memory)).toBe(true);
    expect(dst.registers.writes).toBe(src.registers.writes);
  });

  it('a destination with another geometry refuses the stream, naming the entry', async () => {
    const source = vm();
    await source.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach(new Scratchpad({ id: 'pad', pageCount: 16 }));
    const destination = vm();
    await destination.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach(new Scratchpad({ id: 'pad', pageCount: 8 }));
    const err = await migrate(source, destination).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).entry).toEqual({ idstr: 'pad/scratchpad', instanceId: 0 });
    expect((err as MigrationError).cause).toBeInstanceOf(ScratchpadLoadError);
    expect((err as MigrationError).message).toContain('the source has 16 pages of 256 bytes, this device 8 of 256');
  });

  it('the provider takes scratchpads only, and says why not', async () => {
    const selector = vm().get<ProviderSelector>(PROVIDER_SELECTOR);
    expect(selector.providers.map((p) => p.name)).toEqual(['scratchpad']);
    const refused = await selector.select({ kind: 'gpu' }, 'gpu').catch((e: unknown) => e);
    expect(String(refused)).toContain('scratchpad: not a scratchpad');
  });
});
