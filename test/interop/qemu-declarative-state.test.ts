/**
 * QEMU 7.2 and 10.0 load streams written by @savevm/core's source driver whose only
 * sections are FULL sections from the declarative `timer` and `globalstate` descriptions,
 * and enter the run state the globalstate carries (issue 9; also issue 3's "a stream with
 * only FULL sections shaped like QEMU's timer and globalstate is accepted by QEMU 7.2").
 * Under `streamCompat: 'qemu-10.0'` the stream is QEMU 10.0's: 10.0 loads it, 7.2 refuses
 * its SWITCHOVER_START.
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
  qemuTimerVmState,
  registerQemuGlobalState,
  registerVmState,
  type StreamCompat,
} from '@savevm/core';
import { expect, it } from 'vitest';
import { describeEachQemu, loadStream } from './qemu-harness.js';
import { inspectRecords } from './stream-walk.js';

const LOAD_FAILED = 'load of migration failed';

/** Migrates a VM whose only entries are the declarative timer and globalstate into bytes. */
async function streamCarrying(runState: RunState | string, streamCompat: StreamCompat = 'qemu-7.2'): Promise<Buffer> {
  const registry = new SaveStateRegistry();
  registerVmState(registry, qemuTimerVmState, createQemuTimerState(123_456_789n, -42n));
  const global = createQemuGlobalState(RunState.RUNNING);
  global.runstate.fill(0).set(Buffer.from(runState, 'latin1'));
  registerQemuGlobalState(registry, global);
  const source = new MigrationSource({
    registry,
    runState: new RunStateController(RunState.RUNNING),
    blockers: new MigrationBlockers(),
    notifiers: new MigrationNotifiers(),
  });
  const channel = new MemoryWriteChannel();
  const info = await source.migrate(new QemuFileWriter(channel), { machine: 'none', maxBandwidth: 0, streamCompat });
  expect(info.status).toBe('completed');
  return channel.bytes();
}

describeEachQemu((v) => `QEMU ${v} loads declarative timer + globalstate written by MigrationSource`, (qemu) => {
  const qemuOpt = { qemu: qemu.version };
  it('the stream is header, configuration, two FULL sections, EOF, vmdesc', async () => {
    const records = await inspectRecords(await streamCarrying(RunState.PAUSED));
    expect(records.map((r) => r.type)).toEqual(['header', 'configuration', 'full', 'full', 'eof', 'vmdesc']);
  });

  it.each([
    [RunState.RUNNING, 'running'],
    [RunState.PAUSED, 'paused'],
  ])('globalstate "%s", QEMU started without -S: accepted, and QEMU enters "%s"', async (carried, expected) => {
    const result = await loadStream(await streamCarrying(carried), { machine: 'none', paused: false, ...qemuOpt });
    expect(result.stderr).not.toContain(LOAD_FAILED);
    expect(result.stderr).not.toContain('Expected vmdescription');
    expect(result).toMatchObject({ accepted: true, status: expected, exitCode: 0 });
  });

  it('with -S QEMU stays paused even when the globalstate says running', async () => {
    const result = await loadStream(await streamCarrying(RunState.RUNNING), { machine: 'none', paused: true, ...qemuOpt });
    expect(result).toMatchObject({ accepted: true, status: 'paused', exitCode: 0 });
  });

  it('a globalstate naming no run state is refused by QEMU, as by our post-load', async () => {
    const result = await loadStream(await streamCarrying('nonsense'), { machine: 'none', paused: false, ...qemuOpt });
    expect(result.accepted).toBe(false);
    expect(result.stderr).toContain(LOAD_FAILED);
    expect(result.stderr).toContain('invalid parameter value: nonsense');
    expect(result.stderr).toContain("of device 'globalstate'");
  });

  it(`streamCompat qemu-10.0 (SWITCHOVER_START, 10.0's globalstate and vmdesc): ${qemu.acceptsSwitchoverStart ? 'accepted' : 'refused'}`, async () => {
    const bytes = await streamCarrying(RunState.PAUSED, 'qemu-10.0');
    expect((await inspectRecords(bytes)).map((r) => r.type)).toEqual(['header', 'configuration', 'command', 'full', 'full', 'eof', 'vmdesc']);
    const result = await loadStream(bytes, { machine: 'none', paused: false, ...qemuOpt });
    if (qemu.acceptsSwitchoverStart) {
      expect(result.stderr).toBe('');
      expect(result).toMatchObject({ accepted: true, status: 'paused', exitCode: 0 });
    } else {
      expect(result.accepted).toBe(false);
      expect(result.stderr).toContain('MIG_CMD 0xb unknown (len 0x0)');
    }
  });
});
