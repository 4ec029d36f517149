/**
 * Wire equality with QEMU 7.2: the declarative `timer` and `globalstate` descriptions
 * write exactly the bytes of those sections in QEMU's own streams, describe them in the
 * vmdesc exactly as QEMU does, and a whole `-machine none` stream written by the source
 * driver (with a stand-in for QEMU's empty RAM section) equals QEMU's byte for byte.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findTrailingVmdesc, inspectStream } from '@savevm/inspect';
import { MemoryWriteChannel, QemuFileWriter, parseVmDescription } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import {
  RunState,
  createQemuGlobalState,
  createQemuTimerState,
  loadVmState,
  qemuGlobalStateVmState,
  qemuTimerVmState,
  qemuGlobalStateHandlers,
  registerQemuGlobalState,
  registerVmState,
  saveVmState,
  type QemuTimerState,
  type SaveVMHandlers,
} from '../src/index.js';
import { runStateOf, vmWasSuspendedOf } from '../src/vmstate/qemu-globalstate.js';
import { World, readerOf, saveToMemory } from './helpers/world.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/qemu-7.2/', import.meta.url));
const vector = (name: string): Buffer => readFileSync(`${fixtures}${name}`);

/** Offsets of the FULL bodies in the 747-byte `none-*.mig` streams (docs/design/stream-format.md §6). */
const TIMER_BODY = { start: 0x5c, end: 0x74 };
const GLOBALSTATE_BODY = { start: 0x92, end: 0xfa };

/** QEMU's RAM section for a machine without RAM: START total 0 | MEM_SIZE, EOS; END EOS. */
const emptyRam: SaveVMHandlers = {
  saveSetup(f) {
    f.putBe64(0x4n);
    f.putBe64(0x10n);
  },
  saveLiveCompletePrecopy(f) {
    f.putBe64(0x10n);
  },
};

/** The vmdesc JSON text at the end of a 747-byte `none` stream (after EOF at 0xff). */
function vmdescTextOf(bytes: Buffer): string {
  expect(bytes[0xff]).toBe(0x00);
  expect(bytes[0x100]).toBe(0x06);
  return bytes.subarray(0x105, 0x105 + bytes.readUInt32BE(0x101)).toString('utf8');
}

async function written(write: (f: QemuFileWriter) => Promise<unknown>): Promise<Buffer> {
  const channel = new MemoryWriteChannel();
  const f = new QemuFileWriter(channel);
  await write(f);
  await f.flush();
  return channel.bytes();
}

describe.each(['none-paused.mig', 'none-running.mig'])('QEMU 7.2 vector %s', (name) => {
  const bytes = vector(name);
  const qemuVmdescText = vmdescTextOf(bytes);
  const qemuVmdesc = parseVmDescription(qemuVmdescText);

  it('timer: load the body from QEMU, save it again: the same 24 bytes and QEMU\'s vmdesc entry', async () => {
    const timer = createQemuTimerState(1n, 1n);
    const r = readerOf(bytes.subarray(TIMER_BODY.start));
    await loadVmState(r, qemuTimerVmState, timer, 2);
    expect(r.offset).toBe(TIMER_BODY.end - TIMER_BODY.start);
    let described: unknown;
    const out = await written(async (f) => (described = await saveVmState(f, qemuTimerVmState, timer)));
    expect(out).toEqual(bytes.subarray(TIMER_BODY.start, TIMER_BODY.end));
    expect({ name: 'timer', instance_id: 0, ...(described as object) }).toEqual(qemuVmdesc.devices[0]);
  });

  it('globalstate: load the body, save it again: the same 104 bytes, QEMU\'s vmdesc entry, the run state', async () => {
    const global = createQemuGlobalState(RunState.SHUTDOWN);
    await loadVmState(readerOf(bytes.subarray(GLOBALSTATE_BODY.start)), qemuGlobalStateVmState, global, 1);
    expect(runStateOf(global)).toBe(name === 'none-paused.mig' ? 'prelaunch' : 'running');
    let described: unknown;
    const out = await written(async (f) => (described = await saveVmState(f, qemuGlobalStateVmState, global)));
    expect(out).toEqual(bytes.subarray(GLOBALSTATE_BODY.start, GLOBALSTATE_BODY.end));
    expect({ name: 'globalstate', instance_id: 0, ...(described as object) }).toEqual(qemuVmdesc.devices[1]);
  });

  it('the whole stream written by MigrationSource equals QEMU\'s, vmdesc text included', async () => {
    const timerValues = createQemuTimerState();
    await loadVmState(readerOf(bytes.subarray(TIMER_BODY.start)), qemuTimerVmState, timerValues, 2);
    const runState = name === 'none-paused.mig' ? RunState.PRELAUNCH : RunState.RUNNING;

    const world = new World(RunState.RUNNING);
    // Section ids as QEMU's: timer 0, ram 2, globalstate 4 (1 and 3 are entries with no hooks).
    registerVmState(world.registry, qemuTimerVmState, timerValues);
    world.registry.register('unused-1', 0, 1, {});
    world.registry.register('ram', 0, 4, emptyRam);
    world.registry.register('unused-3', 0, 1, {});
    registerVmState(world.registry, qemuGlobalStateVmState, createQemuGlobalState(runState));

    const { bytes: ours } = await saveToMemory(world);
    expect(ours.length).toBe(747);
    expect(ours).toEqual(bytes);
    expect(vmdescTextOf(ours)).toBe(qemuVmdescText);
    expect(findTrailingVmdesc(ours)).toEqual(qemuVmdesc);
  });
});

describe('declarative sections in streams written by core', () => {
  it('inspectStream decodes them field by field from the vmdesc core wrote', async () => {
    const world = new World(RunState.RUNNING);
    const timer: QemuTimerState = { ...createQemuTimerState(-5n, 0x1234_5678_9abcn), icountEnabled: true, icountBias: 7n, icount: -1n };
    registerVmState(world.registry, qemuTimerVmState, timer);
    registerVmState(world.registry, qemuGlobalStateVmState, createQemuGlobalState(RunState.PAUSED));
    const { bytes } = await saveToMemory(world);

    const inspection = await inspectStream(bytes);
    const full = inspection.records.filter((r) => r.record.type === 'full');
    expect(full.map((r) => r.decoding)).toEqual(['vmdesc', 'vmdesc']);
    const [timerBody, globalBody] = full.map((r) => r.fields);
    expect(timerBody?.fields.map((f) => [f.name, f.value])).toEqual([
      ['cpu_ticks_offset', -5n],
      ['unused', '0000000000000000'],
      ['cpu_clock_offset', 0x1234_5678_9abcn],
    ]);
    expect(timerBody?.subsections.map((s) => [s.vmsdName, s.fields.map((f) => f.value)])).toEqual([['timer/icount', [7n, -1n]]]);
    expect(globalBody?.fields[0]?.value).toBe(7);
    expect(String(globalBody?.fields[1]?.value).startsWith(Buffer.from('paused\0').toString('hex'))).toBe(true);
  });
});

const fixtures10 = fileURLToPath(new URL('../../../test/fixtures/qemu-10.0/', import.meta.url));
const vector10 = (name: string): Buffer => readFileSync(`${fixtures10}${name}`);
/** Offsets in the 1089-byte QEMU 10.0 `none-*.mig` streams (timer FULL id 0 at 0x4e, globalstate FULL id 3 at 0x7e). */
const TIMER_BODY_10 = { start: 0x61, end: 0x79 };
const GLOBALSTATE_BODY_10 = { start: 0x97, end: 0xff };

/** The vmdesc JSON text at the end of a 1089-byte QEMU 10.0 `none` stream (after EOF at 0x104). */
function vmdescTextOf10(bytes: Buffer): string {
  expect(bytes[0x104]).toBe(0x00);
  expect(bytes[0x105]).toBe(0x06);
  return bytes.subarray(0x10a, 0x10a + bytes.readUInt32BE(0x106)).toString('utf8');
}

describe.each(['none-paused.mig', 'none-running.mig'])('QEMU 10.0 vector %s', (name) => {
  const bytes = vector10(name);
  const qemuVmdescText = vmdescTextOf10(bytes);
  const qemuVmdesc = parseVmDescription(qemuVmdescText);
  const expectedRunState = name === 'none-paused.mig' ? 'prelaunch' : 'running';

  it('globalstate: the 10.0 layout loads, and saves again under streamCompat qemu-10.0 as the same 104 bytes and 10.0\'s vmdesc entry', async () => {
    const global = createQemuGlobalState(RunState.SHUTDOWN);
    const handlers = qemuGlobalStateHandlers(global);
    await handlers.loadState(readerOf(bytes.subarray(GLOBALSTATE_BODY_10.start)), 1);
    expect(runStateOf(global)).toBe(expectedRunState);
    expect(vmWasSuspendedOf(global)).toBe(false);
    handlers.applyStreamCompat('qemu-10.0');
    expect(handlers.layout).toBe('runstate-32-suspended');
    const world = new World(RunState.RUNNING);
    world.registry.register('globalstate', 0, 1, handlers);
    const { bytes: ours } = await saveToMemory(world, { machine: undefined, streamCompat: 'qemu-10.0' });
    // header (8), SWITCHOVER_START (5: no live entry, so it precedes the FULL sections), FULL header (25)
    expect(ours.subarray(8, 13).toString('hex')).toBe('08000b0000');
    const body = ours.subarray(8 + 5 + 25, 8 + 5 + 25 + 104);
    expect(body).toEqual(bytes.subarray(GLOBALSTATE_BODY_10.start, GLOBALSTATE_BODY_10.end));
    expect(findTrailingVmdesc(ours)?.devices[0]).toEqual(qemuVmdesc.devices[1]);
  });

  it('globalstate: the same state saved under streamCompat qemu-7.2 is 7.2\'s bytes (has_vm_was_suspended cleared), and the state is left as it was', async () => {
    const global = createQemuGlobalState(RunState.SHUTDOWN);
    const handlers = qemuGlobalStateHandlers(global);
    await handlers.loadState(readerOf(bytes.subarray(GLOBALSTATE_BODY_10.start)), 1);
    handlers.applyStreamCompat('qemu-7.2');
    const before = Buffer.from(global.runstate);
    const out = await written(async (f) => handlers.saveState(f));
    expect(out).toEqual(vector(name).subarray(GLOBALSTATE_BODY.start, GLOBALSTATE_BODY.end));
    expect(Buffer.from(global.runstate)).toEqual(before);
    expect(vmWasSuspendedOf(global)).toBe(false);
  });

  it('the whole stream written by MigrationSource under streamCompat qemu-10.0 equals QEMU 10.0\'s, vmdesc text included', async () => {
    const timerValues = createQemuTimerState();
    await loadVmState(readerOf(bytes.subarray(TIMER_BODY_10.start)), qemuTimerVmState, timerValues, 2);
    const world = new World(RunState.RUNNING);
    // Section ids as QEMU 10.0's: timer 0, ram 1, globalstate 3 (2 is an entry with no hooks).
    registerVmState(world.registry, qemuTimerVmState, timerValues);
    world.registry.register('ram', 0, 4, emptyRam);
    world.registry.register('unused-2', 0, 1, {});
    registerQemuGlobalState(world.registry, createQemuGlobalState(name === 'none-paused.mig' ? RunState.PRELAUNCH : RunState.RUNNING));
    const { bytes: ours, info } = await saveToMemory(world, { streamCompat: 'qemu-10.0' });
    expect(info.streamCompat).toBe('qemu-10.0');
    expect(ours.length).toBe(1089);
    expect(ours).toEqual(bytes);
    expect(vmdescTextOf10(ours)).toBe(qemuVmdescText);
  });

  it('the destination loads it: SWITCHOVER_START reaches the live entry\'s switchoverStart, globalstate gives the run state', async () => {
    const world = new World(RunState.INMIGRATE);
    const timer = createQemuTimerState(1n, 1n);
    registerVmState(world.registry, qemuTimerVmState, timer);
    const switchovers: string[] = [];
    const ramLoader: SaveVMHandlers = {
      async loadState(f) {
        // START: MEM_SIZE total 0, EOS; END: EOS
        while ((await f.getBe64()) !== 0x10n);
      },
      switchoverStart(entry) {
        switchovers.push(entry.idstr);
      },
    };
    world.registry.register('ram', 0, 4, ramLoader);
    const global = createQemuGlobalState(RunState.SHUTDOWN);
    registerQemuGlobalState(world.registry, global);
    const info = await world.destination.load(readerOf(bytes), { machine: 'none' });
    expect(info.status).toBe('completed');
    expect(switchovers).toEqual(['ram']);
    expect(runStateOf(global)).toBe(expectedRunState);
  });
});
