/**
 * The `streamCompat` migration parameter: which QEMU's stream the source writes
 * (docs/design/qemu-versions.md §3) — SWITCHOVER_START before the END sections, the vmdesc's
 * "configuration" key, the globalstate layout — and how the source reports its choice.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { findTrailingVmdesc, inspectStream } from '@savevm/inspect';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_STREAM_COMPAT,
  RunState,
  TracePoint,
  createQemuGlobalState,
  registerQemuGlobalState,
  type StreamCompat,
} from '../src/index.js';
import { DEFAULT_MIGRATION_PARAMETERS, resolveParameters } from '../src/parameters.js';
import { streamCompatRules } from '../src/stream-compat.js';
import { BlobDevice, RamLikeDevice } from './helpers/devices.js';
import { World, saveToMemory } from './helpers/world.js';

/** A paused VM with a live device, a blob and a compat-aware globalstate, migrated into records. */
async function migrate(compat: StreamCompat | undefined, live = true) {
  const world = new World(RunState.PAUSED);
  if (live) world.registry.register('ramlike', 0, 1, new RamLikeDevice({ pages: 4, pageSize: 64 }));
  world.registry.register('blob', 0, 1, new BlobDevice(Buffer.alloc(16, 3)));
  const global = createQemuGlobalState(RunState.PAUSED);
  registerQemuGlobalState(world.registry, global);
  const { bytes, info } = await saveToMemory(world, compat === undefined ? {} : { streamCompat: compat });
  const inspection = await inspectStream(bytes);
  return { bytes, info, global, records: inspection.records.map((r) => r.record), vmdesc: findTrailingVmdesc(bytes) };
}

describe('streamCompat', () => {
  it('defaults to qemu-7.2 (both QEMUs load it) and refuses an unknown value', () => {
    expect(DEFAULT_STREAM_COMPAT).toBe('qemu-7.2');
    expect(DEFAULT_MIGRATION_PARAMETERS.streamCompat).toBe('qemu-7.2');
    expect(resolveParameters().streamCompat).toBe('qemu-7.2');
    expect(() => resolveParameters({ streamCompat: 'qemu-9.2' as StreamCompat })).toThrow(RangeError);
    expect(streamCompatRules('qemu-10.0')).toEqual({ switchoverStart: true, vmdescConfiguration: true, globalStateLayout: 'runstate-32-suspended' });
  });

  it('qemu-7.2: no command, no "configuration" in the vmdesc, globalstate zero-padded; reported in the info', async () => {
    const { records, vmdesc, info, bytes } = await migrate(undefined);
    expect(records.filter((r) => r.type === 'command')).toEqual([]);
    expect(vmdesc?.configuration).toBeUndefined();
    expect(vmdesc?.devices.find((d) => d.name === 'globalstate')?.fields?.map((f) => [f.name, f.size])).toEqual([
      ['size', 4],
      ['runstate', 100],
    ]);
    expect(info.streamCompat).toBe('qemu-7.2');
    const global = records.find((r) => r.type === 'full' && r.idstr === 'globalstate');
    if (global?.type !== 'full') throw new Error('no globalstate');
    expect(bytes[global.bodyOffset + 4 + 32]).toBe(0);
  });

  it('qemu-10.0: SWITCHOVER_START right before the first END, the vmdesc opens with "configuration", globalstate in 10.0\'s layout', async () => {
    const { records, vmdesc, info, bytes, global: state } = await migrate('qemu-10.0');
    const types = records.map((r) => (r.type === 'command' ? `command ${r.command}` : r.type));
    expect(types.filter((t) => t.startsWith('command'))).toEqual(['command 11']);
    expect(types[types.indexOf('command 11') + 1]).toBe('end');
    expect(types.indexOf('command 11')).toBeGreaterThan(types.lastIndexOf('part'));
    expect(vmdesc?.configuration).toEqual({
      vmsd_name: 'configuration',
      version: 1,
      fields: [
        { name: 'len', type: 'uint32', size: 4 },
        { name: 'name', type: 'buffer', size: 4 },
      ],
    });
    const json = bytes.subarray(bytes.lastIndexOf('{"configuration"')).toString();
    expect(json.startsWith('{"configuration": {"vmsd_name": "configuration", "version": 1, "fields": [')).toBe(true);
    expect(vmdesc?.devices.find((d) => d.name === 'globalstate')?.fields?.map((f) => [f.name, f.type, f.size])).toEqual([
      ['size', 'uint32', 4],
      ['runstate', 'buffer', 32],
      ['has_vm_was_suspended', 'uint8', 1],
      ['vm_was_suspended', 'uint8', 1],
      ['unused', 'buffer', 66],
    ]);
    const global = records.find((r) => r.type === 'full' && r.idstr === 'globalstate');
    if (global?.type !== 'full') throw new Error('no globalstate');
    expect(bytes.readUInt32BE(global.bodyOffset)).toBe('paused'.length + 1);
    expect(bytes[global.bodyOffset + 4 + 32]).toBe(1);
    expect(info.streamCompat).toBe('qemu-10.0');
    // Written from a copy: the device's state is as it was.
    expect(Buffer.from(state.runstate)).toEqual(Buffer.from(createQemuGlobalState(RunState.PAUSED).runstate));
  });

  it('qemu-10.0 without live entries: SWITCHOVER_START precedes the FULL sections', async () => {
    const { records } = await migrate('qemu-10.0', false);
    expect(records.map((r) => r.type)).toEqual(['header', 'configuration', 'command', 'full', 'full', 'eof', 'vmdesc']);
  });

  it('the savevm_state_header trace says which compat the source writes', async () => {
    const seen: unknown[] = [];
    const listener = (message: unknown): void => void seen.push(message);
    diagnosticsChannel.subscribe(TracePoint.savevm_state_header, listener);
    try {
      await migrate('qemu-10.0');
      await migrate('qemu-7.2');
    } finally {
      diagnosticsChannel.unsubscribe(TracePoint.savevm_state_header, listener);
    }
    expect(seen).toEqual([
      { machine: 'none', streamCompat: 'qemu-10.0' },
      { machine: 'none', streamCompat: 'qemu-7.2' },
    ]);
  });
});
