/**
 * Whole migrations of emulated VFIO devices with their stop-copy state on multifd channels,
 * through core's source and destination drivers (docs/design/multifd.md §4): the channels'
 * bytes reach the destination in pieces, each channel at its own pace, so buffers arrive
 * out of order; the devices end byte-equal, the main stream carries only the dummy EOS; a
 * device failing on either side fails the migration naming it, and the source VM runs again.
 */
import {
  MultifdReceiveChannels,
  MultifdSendChannels,
  RunState,
  multifdSettingsFor,
  type MigrationInfo,
  type MigrationParameters,
} from '@savevm/core';
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter, type ReadChannel } from '@savevm/stream';
import { MigState } from '@savevm/vfio';
import { describe, expect, it } from 'vitest';
import type { VfioConfigStateHook } from '../src/index.js';
import { E } from './helpers/faults.js';
import { bodyShape, vfioSections } from './helpers/stream-layout.js';
import { ALL_FLAGS, FAST, MIXED_P2P, STOP_COPY_ONLY, makePair, type Vm } from './helpers/vm.js';

const MiB = 1 << 20;

/** Hands out its bytes in pieces of pseudo-random size, each after a pseudo-random pause (a slow, uneven connection). */
class UnevenChannel implements ReadChannel {
  private at = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private x: number,
  ) {}
  async read(into: Uint8Array): Promise<number> {
    this.x = (this.x * 1103515245 + 12345) % 2 ** 31;
    await new Promise((r) => setTimeout(r, this.x % 3));
    const n = Math.min(into.length, this.bytes.length - this.at, 1 + (this.x % (300 * 1024)));
    into.set(this.bytes.subarray(this.at, this.at + n));
    this.at += n;
    return n;
  }
  async close(): Promise<void> {}
  shutdown(): void {}
}

interface Run {
  readonly main: Buffer;
  readonly channels: Buffer[];
  readonly source: MigrationInfo;
}

/** Migrates `src` with `n` channels into memory (QEMU 10.0's stream). */
async function save(src: Vm, n: number, params: Partial<MigrationParameters> = {}): Promise<Run> {
  const settings = multifdSettingsFor('qemu-10.0', n);
  const outs = Array.from({ length: n }, () => new MemoryWriteChannel());
  const multifd = new MultifdSendChannels(
    outs.map((c) => new QemuFileWriter(c)),
    settings,
  );
  const main = new MemoryWriteChannel();
  const source = await src.source.migrate(new QemuFileWriter(main), { ...FAST, streamCompat: 'qemu-10.0', ...params }, { multifd });
  return { main: main.bytes(), channels: outs.map((c) => c.bytes()), source };
}

/** Loads a run into `dst`, each channel read unevenly. */
function load(dst: Vm, run: Run, seed: number): Promise<MigrationInfo> {
  const settings = multifdSettingsFor('qemu-10.0', run.channels.length);
  const multifd = new MultifdReceiveChannels(
    run.channels.map((bytes, i) => new QemuFileReader(new UnevenChannel(bytes, seed * 7 + i))),
    { settings },
  );
  return dst.destination.load(new QemuFileReader(new MemoryReadChannel(run.main)), { autostart: true, multifd });
}

function sameState(src: Vm, dst: Vm): boolean {
  return src.devices.every((d, i) => Buffer.from(d.emulated.model.stateBytes).equals(Buffer.from(dst.devices[i]!.emulated.model.stateBytes)));
}

function configHook(value: number, loaded: number[]): VfioConfigStateHook {
  return { save: (f) => f.putBe32(value), load: async (f) => void loaded.push(await f.getBe32()) };
}

describe('VFIO stop-copy state on multifd channels through the drivers', () => {
  for (const [channels, seed] of [
    [4, 1],
    [2, 2],
    [3, 3],
  ] as const) {
    it(`${channels} channels, 2 devices (pre-copy with dirtying, stop-copy only), config hooks: byte-equal, END and FULL carry only END_OF_STATE`, async () => {
      const loaded: number[] = [];
      const { src, dst } = await makePair(
        [
          { flags: ALL_FLAGS, stateSize: 5 * MiB + 321, dirtyPagesPerRead: 2 },
          { flags: STOP_COPY_ONLY, stateSize: 3 * MiB + 17 },
        ],
        { ...MIXED_P2P, configState: configHook(0xc0ffee, []) },
        { ...MIXED_P2P, configState: configHook(0, loaded), maxQueuedBuffersSize: 4 * MiB },
      );
      const run = await save(src, channels);
      expect(run.source.status).toBe('completed');
      const info = await load(dst, run, seed);
      expect(info.status).toBe('completed');
      expect(sameState(src, dst)).toBe(true);
      expect(loaded).toEqual([0xc0ffee, 0xc0ffee]);
      expect(dst.runState.state).toBe(RunState.RUNNING);
      for (const d of dst.devices) {
        expect(d.emulated.model.migState).toBe(MigState.RUNNING);
        expect(d.migration.state.dataFile).toBeUndefined();
      }
      const sections = await vfioSections(run.main);
      for (const s of sections.filter((x) => x.type === 'end' || x.type === 'full')) expect(bodyShape(s)).toBe('END');
      // Pre-copy stays on the main stream.
      expect(sections.some((s) => s.type === 'part' && s.data.length > 0)).toBe(true);
      // The stop-copy bytes went on the channels, spread over more than one.
      const stopCopy = src.devices.reduce((n, d) => n + d.migration.saver.stats.stopCopyBytes, 0);
      expect(run.channels.reduce((n, c) => n + c.length, 0)).toBeGreaterThan(stopCopy);
      expect(run.channels.filter((c) => c.length > MiB).length).toBeGreaterThan(1);
      for (const d of dst.devices) expect(d.migration.loader.multifd).toBeUndefined();
      src.close();
      dst.close();
    });
  }

  it('QEMU 7.2 stream with channels: no device state on them, the END section carries the data', async () => {
    const { src, dst } = await makePair([{ flags: STOP_COPY_ONLY, stateSize: 2 * MiB }]);
    const settings = multifdSettingsFor('qemu-7.2', 2);
    const outs = [new MemoryWriteChannel(), new MemoryWriteChannel()];
    const main = new MemoryWriteChannel();
    await src.source.migrate(new QemuFileWriter(main), { ...FAST, streamCompat: 'qemu-7.2' }, { multifd: new MultifdSendChannels(outs.map((c) => new QemuFileWriter(c)), settings) });
    expect(outs.every((c) => c.bytes().length === 0)).toBe(true);
    const end = (await vfioSections(main.bytes())).find((s) => s.type === 'end');
    expect(end?.data.length).toBeGreaterThan(2 * MiB);
    const multifd = new MultifdReceiveChannels(
      outs.map((c) => new QemuFileReader(new MemoryReadChannel(c.bytes()))),
      { settings },
    );
    await dst.destination.load(new QemuFileReader(new MemoryReadChannel(main.bytes())), { autostart: true, multifd });
    expect(sameState(src, dst)).toBe(true);
    src.close();
    dst.close();
  });

  it('QEMU 7.2 stream into a destination whose channels take device state: auto loads the device from the main channel, on refuses the load', async () => {
    for (const setting of ['auto', 'on'] as const) {
      const { src, dst } = await makePair([{ flags: STOP_COPY_ONLY, stateSize: 2 * MiB }], {}, { multifdTransfer: setting });
      const outs = [new MemoryWriteChannel(), new MemoryWriteChannel()];
      const main = new MemoryWriteChannel();
      const sending = multifdSettingsFor('qemu-7.2', 2);
      await src.source.migrate(new QemuFileWriter(main), { ...FAST, streamCompat: 'qemu-7.2' }, { multifd: new MultifdSendChannels(outs.map((c) => new QemuFileWriter(c)), sending) });
      // The destination cannot tell the source's QEMU from its setup: its channels accept device state (as a session's do).
      const multifd = new MultifdReceiveChannels(
        outs.map((c) => new QemuFileReader(new MemoryReadChannel(c.bytes()))),
        { settings: multifdSettingsFor('qemu-10.0', 2) },
      );
      const loading = dst.destination.load(new QemuFileReader(new MemoryReadChannel(main.bytes())), { autostart: true, multifd });
      if (setting === 'auto') {
        expect((await loading).status).toBe('completed');
        expect(sameState(src, dst)).toBe(true);
      } else {
        // Without a config hook nothing comes in FULL: the load ends and the device's buffers never came.
        await expect(loading).rejects.toThrow(/doing multifd transfer but no SWITCHOVER_START started the load of its state buffers/);
        expect(dst.devices[0]!.emulated.model.migState).toBe(MigState.RUNNING);
      }
      src.close();
      dst.close();
    }
  });

  it('a device read failing on the source fails the migration naming the device; the VM and the device run again', async () => {
    const { src, dst } = await makePair([{ flags: STOP_COPY_ONLY, stateSize: 4 * MiB }]);
    const d = src.devices[0]!;
    d.emulated.model.failDataRead({ afterBytes: MiB + 100, errno: E.EIO });
    const err = await save(src, 3).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain(d.emulated.device.name);
    expect(err?.message).toContain('EIO');
    expect(src.runState.state).toBe(RunState.RUNNING);
    expect(d.emulated.model.migState).toBe(MigState.RUNNING);
    expect(d.migration.state.dataFile).toBeUndefined();
    src.close();
    dst.close();
  });

  it('a destination whose cap is smaller than one buffer fails naming the device, the channel and the buffer; its device is reset', async () => {
    const { src, dst } = await makePair([{ flags: STOP_COPY_ONLY, stateSize: 3 * MiB }], {}, { maxQueuedBuffersSize: 64 * 1024 });
    const run = await save(src, 2);
    const err = await load(dst, run, 9).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/multifd channel \d/);
    expect(err?.message).toMatch(/0000:00:03\.0: queuing state buffer \d+ would exceed the size max of 65536/);
    const d = dst.devices[0]!;
    expect(d.emulated.model.migState).toBe(MigState.RUNNING);
    expect(d.migration.state.dataFile).toBeUndefined();
    src.close();
    dst.close();
  });

  it('a destination with multifdTransfer off fails the load: the packets are refused in QEMU words, or the device misses its state', async () => {
    const { src, dst } = await makePair([{ flags: STOP_COPY_ONLY, stateSize: MiB }], {}, { multifdTransfer: 'off' });
    const run = await save(src, 2);
    const err = await load(dst, run, 4).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    // Which comes first depends on the channels' pace: the refused packet, or the end of the main stream with the device's state missing.
    expect(err?.message).toMatch(/0000:00:03\.0: got device state packet but not doing multifd transfer|vfio device 0000:00:03\.0: RESUMING→STOP/);
    expect(dst.devices[0]!.migration.state.dataFile).toBeUndefined();
    src.close();
    dst.close();
  });
});
