/**
 * QEMU 7.2 loads streams written by @savevm/core's source driver whose only sections are
 * FULL sections from the declarative `timer` and `globalstate` descriptions, and enters
 * the run state the globalstate carries (issue 9; also issue 3's "a stream with only FULL
 * sections shaped like QEMU's timer and globalstate is accepted by QEMU 7.2").
 */
import { MemoryWriteChannel, QemuFileWriter } from '@savevm/stream';
import {
  MigrationBlockers,
  MigrationNotifiers,
  MigrationSource,
  RunState,
  RunStateController,
  SaveStateRegistry,
  createQemuGlobalState,
  createQemuTimerState,
  qemuGlobalStateVmState,
  qemuTimerVmState,
  registerVmState,
} from '@savevm/core';
import { expect, it } from 'vitest';
import { describeWithQemu, loadStream } from './qemu-harness.js';
import { inspectRecords } from './stream-walk.js';

const LOAD_FAILED = 'load of migration failed';

/** Migrates a VM whose only entries are the declarative timer and globalstate into bytes. */
async function streamCarrying(runState: RunState | string): Promise<Buffer> {
  const registry = new SaveStateRegistry();
  registerVmState(registry, qemuTimerVmState, createQemuTimerState(123_456_789n, -42n));
  const global = createQemuGlobalState(RunState.RUNNING);
  global.runstate.fill(0).set(Buffer.from(runState, 'latin1'));
  registerVmState(registry, qemuGlobalStateVmState, global);
  const source = new MigrationSource({
    registry,
    runState: new RunStateController(RunState.RUNNING),
    blockers: new MigrationBlockers(),
    notifiers: new MigrationNotifiers(),
  });
  const channel = new MemoryWriteChannel();
  const info = await source.migrate(new QemuFileWriter(channel), { machine: 'none', maxBandwidth: 0 });
  expect(info.status).toBe('completed');
  return channel.bytes();
}

describeWithQemu('QEMU 7.2 loads declarative timer + globalstate written by MigrationSource', () => {
  it('the stream is header, configuration, two FULL sections, EOF, vmdesc', async () => {
    const records = await inspectRecords(await streamCarrying(RunState.PAUSED));
    expect(records.map((r) => r.type)).toEqual(['header', 'configuration', 'full', 'full', 'eof', 'vmdesc']);
  });

  it.each([
    [RunState.RUNNING, 'running'],
    [RunState.PAUSED, 'paused'],
  ])('globalstate "%s", QEMU started without -S: accepted, and QEMU enters "%s"', async (carried, expected) => {
    const result = await loadStream(await streamCarrying(carried), { machine: 'none', paused: false });
    expect(result.stderr).not.toContain(LOAD_FAILED);
    expect(result.stderr).not.toContain('Expected vmdescription');
    expect(result).toMatchObject({ accepted: true, status: expected, exitCode: 0 });
  });

  it('with -S QEMU stays paused even when the globalstate says running', async () => {
    const result = await loadStream(await streamCarrying(RunState.RUNNING), { machine: 'none', paused: true });
    expect(result).toMatchObject({ accepted: true, status: 'paused', exitCode: 0 });
  });

  it('a globalstate naming no run state is refused by QEMU, as by our post-load', async () => {
    const result = await loadStream(await streamCarrying('nonsense'), { machine: 'none', paused: false });
    expect(result.accepted).toBe(false);
    expect(result.stderr).toContain(LOAD_FAILED);
    expect(result.stderr).toContain('invalid parameter value: nonsense');
    expect(result.stderr).toContain("of device 'globalstate'");
  });
});
