/**
 * VFIO device state on multifd channels through the handler hooks, with emulated devices
 * (docs/design/multifd.md §4): the source's packets (indexes, flags, config packet, dummy
 * EOS on the main stream), the destination loading them delivered shuffled, and every
 * refusal and failure in QEMU's words naming the device (and the index).
 */
import type { DeviceStateSender, LoadSetupContext, MultifdRamSender, SaveStateEntryInfo, SwitchoverStartContext } from '@savevm/core';
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { MigState } from '@savevm/vfio';
import { describe, expect, it } from 'vitest';
import { VfioMultifdError, type VfioConfigStateHook, type VfioV2Options } from '../src/index.js';
import { VFIO_DEVICE_STATE_CONFIG_STATE, encodeVfioDeviceStatePacket, readVfioDeviceStateHeader } from '../src/multifd/device-state-packet.js';
import { E } from './helpers/faults.js';
import { TAG } from './helpers/stream-layout.js';
import { STOP_COPY_ONLY, Vm, type VmDevice } from './helpers/vm.js';

const MiB = 1 << 20;
/** The emulated device's stream of a small state: the state plus a header and an end record. */
const DEVICE_STREAM_OVERHEAD = 72;

function entryOf(d: VmDevice): SaveStateEntryInfo {
  return { idstr: d.migration.idstr, instanceId: 0, versionId: 1, sectionId: 0 };
}

/** A sender context whose channels carry device state (the RAM side is never used here). */
function channelsContext(deviceState = true): { multifd: MultifdRamSender } {
  return {
    multifd: {
      settings: { channels: 4, zeroPagesInPackets: true, syncMode: 'flush-record', deviceState },
      sendPages: () => undefined,
      sync: () => undefined,
      isFull: () => false,
      waitForRoom: async () => undefined,
    },
  };
}

/** What the load is told about the channels: none, channels for RAM only, or channels with device state. */
type Channels = 'none' | 'ram-only' | 'device-state';

function loadContext(d: VmDevice, channels: Channels): LoadSetupContext {
  return {
    entry: entryOf(d),
    approveSwitchover: () => undefined,
    multifd:
      channels === 'none'
        ? undefined
        : { settings: { channels: 4, deviceState: channels === 'device-state' }, setRamTarget: () => undefined, syncMain: async () => undefined },
  };
}

/** Collects what the hook sends (copies, as the channels do). */
function collectingSender(): { sender: DeviceStateSender; packets: Buffer[] } {
  const packets: Buffer[] = [];
  return { packets, sender: { send: async (data) => void packets.push(Buffer.from(data)) } };
}

/** The load work a `switchoverStart` starts, run as the core runs it. */
function workContext(signal: AbortSignal): { context: SwitchoverStartContext; done: () => Promise<void> } {
  let run: Promise<void> | undefined;
  return {
    context: { startLoadThread: (work) => void (run = work(signal)) },
    done: async () => {
      if (run === undefined) throw new Error('no load work started');
      await run;
    },
  };
}

/** A seeded shuffle (the channels' arrival order). */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

async function rejection(promise: Promise<unknown> | unknown): Promise<VfioMultifdError> {
  const err = await Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VfioMultifdError);
  return err as VfioMultifdError;
}

const configHook = (bytes: Buffer, into: Buffer[]): VfioConfigStateHook => ({
  save: (f) => f.putBuffer(bytes),
  load: async (f) => void into.push(await f.getBytes(bytes.length)),
});

/** One source device: set up with channels, stopped, its packets sent. */
async function sourcePackets(stateSize: number, options: VfioV2Options = {}, seed = 11): Promise<{ vm: Vm; d: VmDevice; packets: Buffer[]; main: Buffer }> {
  const vm = new Vm({ preCopy: false, ...options });
  const d = await vm.addDevice(0, { flags: STOP_COPY_ONLY, stateSize }, seed);
  const h = d.migration.handlers;
  const channel = new MemoryWriteChannel();
  const f = new QemuFileWriter(channel);
  await h.saveSetup!(f, entryOf(d), channelsContext());
  d.migration.state.setState(MigState.STOP, MigState.RUNNING);
  const { sender, packets } = collectingSender();
  await h.saveCompletePrecopyThread!(sender, entryOf(d), new AbortController().signal);
  await h.saveLiveCompletePrecopy!(f, entryOf(d));
  if (h.saveState) await h.saveState(f, entryOf(d));
  await f.flush();
  return { vm, d, packets, main: channel.bytes() };
}

/** A destination device in RESUMING (state of `stateSize` bytes, as its source's), loading from the channels. */
async function destination(options: VfioV2Options = {}, channels: Channels = 'device-state', stateSize = STATE): Promise<{ vm: Vm; d: VmDevice }> {
  const vm = new Vm({ preCopy: false, ...options });
  const d = await vm.addDevice(0, { flags: STOP_COPY_ONLY, stateSize }, 77);
  await d.migration.handlers.loadSetup!(new QemuFileReader(new MemoryReadChannel(Buffer.alloc(0))), loadContext(d, channels));
  return { vm, d };
}

/** The state size of the refusal tests' devices: four data packets. */
const STATE = 3 * MiB + 5000;
let cachedPackets: Buffer[] | undefined;

/** Real packets of a source device of {@link STATE} bytes (the emulated device checks what is written to it). */
async function realPackets(): Promise<Buffer[]> {
  if (cachedPackets === undefined) {
    const src = await sourcePackets(STATE);
    cachedPackets = src.packets;
    src.vm.close();
  }
  return cachedPackets;
}

describe('the source sends its stop-copy state on the channels (QEMU 10.0)', () => {
  it('packets of min(1 MiB, stop-copy size), indexes 0 … n−1, then index n with CONFIG_STATE carrying DEV_CONFIG_STATE, the config, END_OF_STATE; END and FULL hold END_OF_STATE only', async () => {
    const config = Buffer.from('pci config space');
    const { vm, d, packets, main } = await sourcePackets(3 * MiB + 5000, { configState: configHook(config, []) });
    const headers = packets.map((p) => readVfioDeviceStateHeader(p));
    expect(headers.map((h) => h.index)).toEqual([0, 1, 2, 3, 4]);
    expect(headers.map((h) => h.version)).toEqual([0, 0, 0, 0, 0]);
    expect(headers.map((h) => h.flags)).toEqual([0, 0, 0, 0, VFIO_DEVICE_STATE_CONFIG_STATE]);
    const sizes = packets.slice(0, 4).map((p) => p.length - 12);
    expect(sizes.slice(0, 3)).toEqual([MiB, MiB, MiB]);
    const stopCopySize = sizes.reduce((a, b) => a + b, 0);
    expect(stopCopySize).toBeGreaterThan(3 * MiB + 5000);
    const last = packets[4] as Buffer;
    expect(last.readBigUInt64BE(12)).toBe(TAG.DEV_CONFIG_STATE);
    expect(last.subarray(20, 20 + config.length).equals(config)).toBe(true);
    expect(last.readBigUInt64BE(20 + config.length)).toBe(TAG.END_OF_STATE);
    expect(last.length).toBe(12 + 8 + config.length + 8);
    // Main stream: START body (SETUP, END), then the dummy EOS of END, then FULL's END_OF_STATE only.
    expect([0, 8, 16, 24].map((at) => main.readBigUInt64BE(at))).toEqual([TAG.DEV_SETUP_STATE, TAG.END_OF_STATE, TAG.END_OF_STATE, TAG.END_OF_STATE]);
    expect(main.length).toBe(32);
    expect(d.migration.saver.stats).toMatchObject({ stopCopyBytes: stopCopySize, multifdPackets: 5 });
    expect(d.migration.state.state).toBe(MigState.STOP_COPY);
    await d.migration.handlers.saveCleanup!(entryOf(d));
    expect(d.migration.state.state).toBe(MigState.STOP);
    vm.close();
  });

  it('a small device reads in buffers of its stop-copy size; without a config hook the last packet is DEV_CONFIG_STATE, END_OF_STATE', async () => {
    const { vm, packets } = await sourcePackets(10_000);
    expect(packets.map((p) => p.length - 12)).toEqual([10_000 + DEVICE_STREAM_OVERHEAD, 16]);
    expect((packets[1] as Buffer).readBigUInt64BE(12)).toBe(TAG.DEV_CONFIG_STATE);
    expect((packets[1] as Buffer).readBigUInt64BE(20)).toBe(TAG.END_OF_STATE);
    vm.close();
  });

  it('multifdTransfer off: the hook sends nothing and the END section carries the data as before', async () => {
    const { vm, packets, main } = await sourcePackets(10_000, { multifdTransfer: 'off' });
    expect(packets).toEqual([]);
    expect(main.readBigUInt64BE(16)).toBe(TAG.DEV_DATA_STATE);
    vm.close();
  });

  it('multifdTransfer on without device state on channels fails save setup in QEMU words', async () => {
    const vm = new Vm({ preCopy: false, multifdTransfer: 'on' });
    const d = await vm.addDevice(0, { flags: STOP_COPY_ONLY }, 1);
    const err = await rejection((async () => d.migration.handlers.saveSetup!(new QemuFileWriter(new MemoryWriteChannel()), entryOf(d), channelsContext(false)))());
    expect(err.refusal).toBe('unsupported');
    expect(err.reason).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(`${d.emulated.device.name}: Multifd device transfer requested but unsupported in the current config`);
    vm.close();
  });

  it('an aborted signal stops the send ("operation cancelled"); the device can run again', async () => {
    const vm = new Vm({ preCopy: false });
    const d = await vm.addDevice(0, { flags: STOP_COPY_ONLY, stateSize: 4 * MiB }, 1);
    const h = d.migration.handlers;
    await h.saveSetup!(new QemuFileWriter(new MemoryWriteChannel()), entryOf(d), channelsContext());
    d.migration.state.setState(MigState.STOP, MigState.RUNNING);
    const controller = new AbortController();
    const sender: DeviceStateSender = {
      send: async () => {
        controller.abort(new Error('the migration failed'));
      },
    };
    const err = await rejection(h.saveCompletePrecopyThread!(sender, entryOf(d), controller.signal));
    expect(err.refusal).toBe('cancelled');
    expect(err.reason).toBe('CANCELLED');
    expect(err.message).toContain(`${d.emulated.device.name}: operation cancelled`);
    d.migration.state.setState(MigState.RUNNING, MigState.ERROR);
    expect(d.emulated.model.migState).toBe(MigState.RUNNING);
    await h.saveCleanup!(entryOf(d));
    vm.close();
  });
});

describe('the destination loads the buffers in index order, whatever order they arrive in', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`shuffle ${seed}: the device gets the source's bytes and the config state`, async () => {
      const config = Buffer.from([1, 2, 3, 4, 5, 6, 7]);
      const loadedConfig: Buffer[] = [];
      const src = await sourcePackets(2 * MiB + 777, { configState: configHook(config, []) }, seed);
      const { vm, d } = await destination({ configState: configHook(config, loadedConfig) }, 'device-state', 2 * MiB + 777);
      const h = d.migration.handlers;
      const controller = new AbortController();
      const work = workContext(controller.signal);
      const order = shuffled(src.packets, seed);
      // Some buffers come before SWITCHOVER_START, the rest after.
      const cut = seed % order.length;
      for (const p of order.slice(0, cut)) await h.loadStateBuffer!(p, entryOf(d));
      await h.switchoverStart!(entryOf(d), work.context);
      for (const p of order.slice(cut)) await h.loadStateBuffer!(p, entryOf(d));
      await work.done();
      expect(loadedConfig).toEqual([config]);
      await h.loadCleanup!(entryOf(d), { succeeded: true });
      expect(Buffer.from(d.emulated.model.stateBytes).equals(Buffer.from(src.d.emulated.model.stateBytes))).toBe(true);
      expect(d.migration.loader.loadedBytes).toBe(src.d.migration.saver.stats.stopCopyBytes);
      src.vm.close();
      vm.close();
    });
  }
});

describe('the destination gives each data buffer back once the device has taken it', () => {
  it('every data buffer is released once, after its write (its bytes trashed at release change nothing); the config buffer never', async () => {
    const config = Buffer.from([9, 8, 7]);
    const loadedConfig: Buffer[] = [];
    const src = await sourcePackets(3 * MiB + 5, { configState: configHook(config, []) }, 7);
    const { vm, d } = await destination({ configState: configHook(config, loadedConfig) }, 'device-state', 3 * MiB + 5);
    const h = d.migration.handlers;
    const work = workContext(new AbortController().signal);
    const releases = new Map<number, number>();
    await h.switchoverStart!(entryOf(d), work.context);
    for (const p of shuffled(src.packets, 7)) {
      const packet = Buffer.from(p);
      const { index } = readVfioDeviceStateHeader(packet);
      await h.loadStateBuffer!(packet, entryOf(d), {
        release: () => {
          releases.set(index, (releases.get(index) ?? 0) + 1);
          packet.fill(0xee); // the channels would read the next packet into it now
        },
      });
    }
    await work.done();
    const configIndex = src.packets.length - 1;
    expect([...releases.keys()].sort((a, b) => a - b)).toEqual([...Array(configIndex).keys()]);
    expect([...releases.values()].every((n) => n === 1)).toBe(true);
    expect(loadedConfig).toEqual([config]);
    await h.loadCleanup!(entryOf(d), { succeeded: true });
    expect(Buffer.from(d.emulated.model.stateBytes).equals(Buffer.from(src.d.emulated.model.stateBytes))).toBe(true);
    src.vm.close();
    vm.close();
  });
});

describe('the destination refuses, in QEMU words naming the device', () => {
  const name = '0000:00:03.0';
  const packet = (index: number, size = 16, flags = 0): Buffer => encodeVfioDeviceStatePacket(index, flags, Buffer.alloc(size, index));
  const configPacket = (index: number, body: Buffer): Buffer => encodeVfioDeviceStatePacket(index, VFIO_DEVICE_STATE_CONFIG_STATE, body);
  const be64 = (v: bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return b;
  };

  it('a packet for a device not doing multifd transfer', async () => {
    const { vm, d } = await destination({}, 'none');
    const err = await rejection(d.migration.handlers.loadStateBuffer!(packet(0), entryOf(d)));
    expect(err.refusal).toBe('not-multifd');
    const ramOnly = await destination({}, 'ram-only');
    expect((await rejection(ramOnly.d.migration.handlers.loadStateBuffer!(packet(0), entryOf(ramOnly.d)))).refusal).toBe('not-multifd');
    await ramOnly.d.migration.handlers.loadCleanup!(entryOf(ramOnly.d), { succeeded: false });
    ramOnly.vm.close();
    expect(err.message).toContain(`${name}: got device state packet but not doing multifd transfer`);
    await d.migration.handlers.loadCleanup!(entryOf(d), { succeeded: false });
    vm.close();
  });

  it('too short, unknown version, invalid index, already filled', async () => {
    const { vm, d } = await destination();
    const h = d.migration.handlers;
    const short = await rejection(h.loadStateBuffer!(Buffer.alloc(5), entryOf(d)));
    expect(short.message).toContain(`${name}: packet too short at 5 (min is 12)`);
    const v1 = packet(0);
    v1.writeUInt32BE(1, 0);
    expect((await rejection(h.loadStateBuffer!(v1, entryOf(d)))).message).toContain(`${name}: packet has unknown version 1`);
    expect((await rejection(h.loadStateBuffer!(packet(0xffffffff), entryOf(d)))).message).toContain(`${name}: packet index is invalid`);
    await h.loadStateBuffer!(packet(3), entryOf(d));
    const dup = await rejection(h.loadStateBuffer!(packet(3), entryOf(d)));
    expect(dup.refusal).toBe('already-filled');
    expect(dup.index).toBe(3);
    expect(dup.message).toContain(`${name}: state buffer 3 already filled`);
    await h.loadCleanup!(entryOf(d), { succeeded: false });
    expect(d.emulated.model.migState).toBe(MigState.RUNNING);
    vm.close();
  });

  it('an index the load already passed (QEMU asserts; refused here)', async () => {
    const { vm, d } = await destination();
    const h = d.migration.handlers;
    const controller = new AbortController();
    const work = workContext(controller.signal);
    const real = await realPackets();
    await h.switchoverStart!(entryOf(d), work.context);
    await h.loadStateBuffer!(real[0]!, entryOf(d));
    await h.loadStateBuffer!(real[1]!, entryOf(d));
    await new Promise((r) => setTimeout(r, 20));
    const late = await rejection(h.loadStateBuffer!(real[0]!, entryOf(d)));
    expect(late.refusal).toBe('already-loaded');
    expect(late.message).toContain(`${name}: state buffer 0 already loaded (the load is at buffer 2)`);
    controller.abort();
    await rejection(work.done());
    await h.loadCleanup!(entryOf(d), { succeeded: false });
    vm.close();
  });

  it('a buffer over the cap while the next one is missing: "would exceed the size max"', async () => {
    const { vm, d } = await destination({ maxQueuedBuffersSize: 40 });
    const h = d.migration.handlers;
    await h.loadStateBuffer!(packet(1, 30), entryOf(d));
    const err = await rejection(h.loadStateBuffer!(packet(2, 11), entryOf(d)));
    expect(err.refusal).toBe('queue-full');
    expect(err.message).toContain(`${name}: queuing state buffer 2 would exceed the size max of 40`);
    expect(d.migration.loader.multifd?.queue.queuedBytes).toBe(30);
    await h.loadCleanup!(entryOf(d), { succeeded: false });
    vm.close();
  });

  it('the abort while a buffer is missing fails the load naming the index', async () => {
    const { vm, d } = await destination();
    const h = d.migration.handlers;
    const controller = new AbortController();
    const work = workContext(controller.signal);
    await h.switchoverStart!(entryOf(d), work.context);
    const real = await realPackets();
    for (const i of [0, 1, 3]) await h.loadStateBuffer!(real[i]!, entryOf(d));
    controller.abort(new Error('every multifd channel has closed'));
    const err = await rejection(work.done());
    expect(err.refusal).toBe('missing-buffer');
    expect(err.index).toBe(2);
    expect(err.message).toContain(`${name}: state buffer 2 never arrived`);
    await h.loadCleanup!(entryOf(d), { succeeded: false });
    expect(d.emulated.model.migState).toBe(MigState.RUNNING);
    vm.close();
  });

  it('a config buffer that does not start with DEV_CONFIG_STATE: "expected FLAG_DEV_CONFIG_STATE but got …"', async () => {
    const { vm, d } = await destination();
    const h = d.migration.handlers;
    const work = workContext(new AbortController().signal);
    await h.switchoverStart!(entryOf(d), work.context);
    await h.loadStateBuffer!(configPacket(0, Buffer.concat([be64(TAG.END_OF_STATE)])), entryOf(d));
    const err = await rejection(work.done());
    expect(err.refusal).toBe('bad-config-state');
    expect(err.message).toContain(`${name}: expected FLAG_DEV_CONFIG_STATE but got ffffffffef100001`);
    await h.loadCleanup!(entryOf(d), { succeeded: false });
    vm.close();
  });

  it('a config state without END_OF_STATE after it, or with bytes after END_OF_STATE', async () => {
    const body = Buffer.from([9, 9, 9, 9]);
    for (const [label, payload, words] of [
      ['no END_OF_STATE', Buffer.concat([be64(TAG.DEV_CONFIG_STATE), body, be64(TAG.DEV_DATA_STATE)]), 'not followed by END_OF_STATE'],
      ['trailing bytes', Buffer.concat([be64(TAG.DEV_CONFIG_STATE), body, be64(TAG.END_OF_STATE), Buffer.from([0])]), '1 bytes after END_OF_STATE in the config state buffer 0'],
    ] as const) {
      const { vm, d } = await destination({ configState: configHook(body, []) });
      const h = d.migration.handlers;
      const work = workContext(new AbortController().signal);
      await h.switchoverStart!(entryOf(d), work.context);
      await h.loadStateBuffer!(configPacket(0, payload), entryOf(d));
      const err = await rejection(work.done());
      expect(err.refusal, label).toBe('bad-config-state');
      expect(err.message, label).toContain(words);
      await h.loadCleanup!(entryOf(d), { succeeded: false });
      vm.close();
    }
  });

  it('a write into the data_fd failing names the buffer', async () => {
    const { vm, d } = await destination();
    const h = d.migration.handlers;
    d.emulated.model.failDataWrite({ afterBytes: MiB + 20, errno: E.EIO });
    const work = workContext(new AbortController().signal);
    const real = await realPackets();
    await h.switchoverStart!(entryOf(d), work.context);
    const released: number[] = [];
    await h.loadStateBuffer!(real[0]!, entryOf(d), { release: () => void released.push(0) });
    await h.loadStateBuffer!(real[1]!, entryOf(d), { release: () => void released.push(1) });
    const err = await rejection(work.done());
    expect(released).toEqual([0]); // the buffer whose write failed is not given back
    expect(err.refusal).toBe('write-failed');
    expect(err.index).toBe(1);
    expect(err.reason).toBe('DEVICE_FAILED');
    expect(err.message).toContain(`${name}: writing state buffer 1 failed: EIO`);
    await h.loadCleanup!(entryOf(d), { succeeded: false });
    vm.close();
  });

  it('DEV_CONFIG_STATE on the main stream while doing multifd transfer (on); DEV_DATA_STATE there after SWITCHOVER_START', async () => {
    const { vm, d } = await destination({ configState: configHook(Buffer.alloc(1), []), multifdTransfer: 'on' });
    const h = d.migration.handlers;
    const config = await rejection(h.loadState!(new QemuFileReader(new MemoryReadChannel(be64(TAG.DEV_CONFIG_STATE))), 1, entryOf(d)));
    expect(config.refusal).toBe('main-stream');
    expect(config.message).toContain(`${name}: got DEV_CONFIG_STATE in main migration channel but doing multifd transfer`);
    const controller = new AbortController();
    const work = workContext(controller.signal);
    await h.switchoverStart!(entryOf(d), work.context);
    const data = Buffer.concat([be64(TAG.DEV_DATA_STATE), be64(4n), Buffer.alloc(4)]);
    const late = await rejection(h.loadState!(new QemuFileReader(new MemoryReadChannel(data)), 1, entryOf(d)));
    expect(late.message).toContain(`${name}: got DEV_DATA_STATE in main migration channel after SWITCHOVER_START but doing multifd transfer`);
    controller.abort();
    expect((await rejection(work.done())).refusal).toBe('missing-buffer');
    await h.loadCleanup!(entryOf(d), { succeeded: false });
    vm.close();
  });

  it('auto: DEV_CONFIG_STATE on the main stream before SWITCHOVER_START and any packet means the source sends its state there', async () => {
    const loaded: Buffer[] = [];
    const { vm, d } = await destination({ configState: configHook(Buffer.alloc(1), loaded) });
    const h = d.migration.handlers;
    await h.loadState!(new QemuFileReader(new MemoryReadChannel(Buffer.concat([be64(TAG.DEV_CONFIG_STATE), Buffer.from([7]), be64(TAG.END_OF_STATE)]))), 1, entryOf(d));
    expect(loaded).toHaveLength(1);
    expect(d.migration.loader.multifd).toBeUndefined();
    // A packet after that is refused: the device no longer loads from the channels.
    const [packet] = await realPackets();
    await expect(h.loadStateBuffer!(packet!, entryOf(d))).rejects.toThrow(`${name}: got device state packet but not doing multifd transfer`);
    await h.loadCleanup!(entryOf(d), { succeeded: false });
    vm.close();
  });

  it('auto: a load that ends well with neither SWITCHOVER_START nor a packet took the state from the main stream; the driver judges it', async () => {
    const { vm, d } = await destination();
    // Nothing was loaded here at all: not a multifd refusal, but the driver's own validation at RESUMING→STOP.
    const err = await (async () => d.migration.handlers.loadCleanup!(entryOf(d), { succeeded: true }))().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).not.toBeInstanceOf(VfioMultifdError);
    expect(err?.message).toContain('RESUMING→STOP (the driver validates the loaded state)');
    expect(d.migration.state.dataFile).toBeUndefined();
    vm.close();
  });

  it('auto: a packet came but no SWITCHOVER_START, and the load ends: fails in cleanup and resets the device', async () => {
    const { vm, d } = await destination();
    const [packet] = await realPackets();
    await d.migration.handlers.loadStateBuffer!(packet!, entryOf(d));
    const err = await rejection((async () => d.migration.handlers.loadCleanup!(entryOf(d), { succeeded: true }))());
    expect(err.refusal).toBe('not-loaded');
    expect(err.message).toContain(`${name}: doing multifd transfer but no SWITCHOVER_START started the load of its state buffers`);
    expect(d.emulated.model.migState).toBe(MigState.RUNNING);
    vm.close();
  });

  it('on: a load that ends well without SWITCHOVER_START fails in cleanup and resets the device', async () => {
    const { vm, d } = await destination({ multifdTransfer: 'on' });
    const err = await rejection((async () => d.migration.handlers.loadCleanup!(entryOf(d), { succeeded: true }))());
    expect(err.refusal).toBe('not-loaded');
    expect(err.message).toContain(`${name}: doing multifd transfer but no SWITCHOVER_START started the load of its state buffers`);
    expect(d.emulated.model.migState).toBe(MigState.RUNNING);
    expect(d.migration.state.dataFile).toBeUndefined();
    vm.close();
  });

  it('multifdTransfer on without device state on channels fails load setup; off refuses packets', async () => {
    const vm = new Vm({ preCopy: false, multifdTransfer: 'on' });
    const d = await vm.addDevice(0, { flags: STOP_COPY_ONLY }, 1);
    const err = await rejection((async () => d.migration.handlers.loadSetup!(new QemuFileReader(new MemoryReadChannel(Buffer.alloc(0))), loadContext(d, 'ram-only')))());
    expect(err.message).toContain(`${name}: Multifd device transfer requested but unsupported in the current config`);
    expect(d.emulated.model.migState).toBe(MigState.RUNNING);
    vm.close();
    const off = await destination({ multifdTransfer: 'off' });
    expect((await rejection(off.d.migration.handlers.loadStateBuffer!(packet(0), entryOf(off.d)))).refusal).toBe('not-multifd');
    await off.d.migration.handlers.loadCleanup!(entryOf(off.d), { succeeded: false });
    off.vm.close();
  });
});
