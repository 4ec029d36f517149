/**
 * The source's error matrix: every ioctl failing with each errno docs/design/vfio-uapi.md §4
 * lists for it, in each phase. After every failure: the outcome follows QEMU's recover rules
 * (vfio-uapi.md §6), the device is RUNNING with its state intact, and no fd is left open
 * (emulated kernel fd table and /proc/self/fd).
 */
import { describe, expect, it } from 'vitest';
import { MigrationError, isMigrationErrorReason, type MigrationPhase } from '@savevm/core';
import { MigState, migStateName } from '@savevm/vfio';
import { type ArcFault } from '@savevm/vfio/emulated';
import { VfioStateTransitionError, type TransitionOutcome, type VfioV2Options } from '../src/index.js';
import { E, failingIoctl, findInChain } from './helpers/faults.js';
import { ALL_FLAGS, STOP_COPY_ONLY, STOP_COPY_P2P, STOP_COPY_PRE_COPY, Vm, processFdCount, saveToMemory, type DeviceSpec } from './helpers/vm.js';

const { RUNNING, STOP, STOP_COPY, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P, ERROR } = MigState;

interface ArcCase {
  /** Where in the migration the arc is taken. */
  readonly phase: MigrationPhase;
  readonly flags: number;
  readonly from: MigState;
  readonly to: MigState;
  readonly options?: VfioV2Options;
  /** The recover state QEMU uses for this arc. */
  readonly recover: MigState;
  /** Whether the migration still completes (a failure in cleanup). */
  readonly completes?: boolean;
}

const ARCS: ArcCase[] = [
  { phase: 'save-setup', flags: ALL_FLAGS, from: RUNNING, to: PRE_COPY, recover: RUNNING },
  { phase: 'switchover', flags: STOP_COPY_P2P, from: RUNNING, to: RUNNING_P2P, recover: ERROR },
  { phase: 'switchover', flags: ALL_FLAGS, from: PRE_COPY, to: PRE_COPY_P2P, recover: ERROR },
  { phase: 'switchover', flags: STOP_COPY_P2P, from: RUNNING_P2P, to: STOP, recover: ERROR },
  { phase: 'switchover', flags: STOP_COPY_ONLY, from: RUNNING, to: STOP, recover: ERROR },
  { phase: 'switchover', flags: ALL_FLAGS, from: PRE_COPY_P2P, to: STOP_COPY, recover: ERROR },
  { phase: 'switchover', flags: STOP_COPY_PRE_COPY, from: PRE_COPY, to: STOP_COPY, recover: ERROR },
  { phase: 'complete-precopy', flags: STOP_COPY_ONLY, from: STOP, to: STOP_COPY, recover: STOP },
  { phase: 'complete-precopy', flags: STOP_COPY_P2P, from: STOP, to: STOP_COPY, recover: STOP },
  { phase: 'complete-precopy', flags: STOP_COPY_ONLY, from: STOP_COPY, to: STOP, recover: ERROR, options: { stopCopyExit: 'save-complete' } },
  { phase: 'save-cleanup', flags: STOP_COPY_ONLY, from: STOP_COPY, to: STOP, recover: ERROR, completes: true },
];

/** A one-device source VM; returns it with a check that everything is back as before. */
async function sourceWith(spec: DeviceSpec, options: VfioV2Options = {}) {
  const vm = new Vm(options);
  const dev = await vm.addDevice(0, spec, 42);
  const bytesBefore = Buffer.from(dev.emulated.model.stateBytes);
  const kernelFds = dev.emulated.kernel.openFds();
  const processFds = processFdCount();
  return {
    vm,
    dev,
    model: dev.emulated.model,
    expectRestored(state: MigState = RUNNING): void {
      expect(migStateName(dev.emulated.model.migState)).toBe(migStateName(state));
      expect(Buffer.from(dev.emulated.model.stateBytes).equals(bytesBefore)).toBe(true);
      expect(dev.emulated.kernel.openFds()).toEqual(kernelFds);
      expect(processFdCount()).toBe(processFds);
      expect(dev.migration.state.dataFile).toBeUndefined();
    },
  };
}

async function failedMigration(vm: Vm): Promise<MigrationError> {
  const err = await saveToMemory(vm).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MigrationError);
  expect(isMigrationErrorReason((err as MigrationError).reason)).toBe(true);
  return err as MigrationError;
}

describe('SET MIG_DEVICE_STATE failing on every arc of the source flow (QEMU 8.0: set-state with a recover state, then a reset)', () => {
  for (const arc of ARCS) {
    for (const errno of ['EINVAL', 'ENOTTY'] as const) {
      for (const leaveIn of ['from', 'ERROR'] as const) {
        const title = `${arc.phase}: ${migStateName(arc.from)}→${migStateName(arc.to)} fails ${errno}, device left in ${leaveIn === 'from' ? migStateName(arc.from) : 'ERROR'}`;
        it(title, async () => {
          const t = await sourceWith({ flags: arc.flags }, arc.options);
          const fault: ArcFault = { from: arc.from, to: arc.to, errno: E[errno], times: 1, ...(leaveIn === 'ERROR' && { leaveIn: ERROR }) };
          t.model.failArc(fault);
          // Which outcome QEMU's rules give: recover ERROR → reset; else recover SET works unless the device is in ERROR.
          const expected: TransitionOutcome = arc.recover === ERROR || leaveIn === 'ERROR' ? 'reset' : 'recovered';
          if (arc.completes) {
            const { info } = await saveToMemory(t.vm);
            expect(info.status).toBe('completed');
            expect(info.warnings.join('\n')).toContain(t.dev.emulated.device.name);
            // The cleanup's recover rule reset the device: taken as RUNNING.
            t.expectRestored(RUNNING);
            return;
          }
          const err = await failedMigration(t.vm);
          expect(err.phase).toBe(arc.phase);
          expect(err.reason).toBe('DEVICE_FAILED');
          expect(err.message).toContain(t.dev.emulated.device.name);
          const transition = findInChain(err, VfioStateTransitionError);
          expect(transition?.outcome).toBe(expected);
          expect(transition?.errno).toBe(errno);
          expect(transition?.target).toBe(arc.to === RUNNING_P2P && arc.from === RUNNING ? RUNNING_P2P : transition?.target);
          t.expectRestored();
          t.vm.close();
        });
      }
    }
  }

  it('a failing reset after a failed arc (QEMU aborts): the error says the state is unknown', async () => {
    const t = await sourceWith({ flags: STOP_COPY_P2P });
    t.model.failArc({ from: RUNNING, to: RUNNING_P2P, errno: E.EINVAL, leaveIn: ERROR, times: 1 });
    t.model.failReset(E.EIO);
    const err = await failedMigration(t.vm);
    const transition = findInChain(err, VfioStateTransitionError);
    expect(transition?.outcome).toBe('reset-failed');
    expect(err.message).toMatch(/reset failed too/);
    t.model.clearFaults();
    t.dev.migration.state.device.reset();
    t.vm.close();
  });
});

describe('the other ioctls failing on the source', () => {
  for (const errno of ['ENOTTY', 'EINVAL'] as const) {
    it(`QEMU 8.0: MIG_DATA_SIZE failing (${errno}) at setup → a 1 MiB buffer; at pending → 100 GiB, the downtime limit is kept (switchover only by the iteration cap)`, async () => {
      let failing = true;
      const t = await sourceWith({ flags: STOP_COPY_ONLY, wrap: (d) => failingIoctl(d, 'getStopCopySize', E[errno], () => failing) });
      const pending = t.dev.migration.saver.pendingExact();
      expect(pending.mustPrecopy).toBe(100 * 1024 ** 3);
      const { info, bytes } = await saveToMemory(t.vm, { maxIterations: 3, iterationCapPolicy: 'switchover', availSwitchoverBandwidth: 0 });
      expect(info.status).toBe('completed');
      expect(info.iterationCapReached).toBe(true);
      expect(bytes.length).toBeGreaterThan(64 * 1024);
      failing = false;
      t.expectRestored(STOP);
      t.vm.close();
    });

    it(`VFIO_MIG_GET_PRECOPY_INFO failing (${errno}): estimates read as 0, migration completes`, async () => {
      const t = await sourceWith({ flags: ALL_FLAGS, wrap: (d) => failingIoctl(d, 'getPrecopyInfo', E[errno]) });
      const { info } = await saveToMemory(t.vm);
      expect(info.status).toBe('completed');
      t.expectRestored(STOP);
      t.vm.close();
    });
  }

  for (const [phase, flags] of [
    ['iterate', ALL_FLAGS],
    ['complete-precopy', STOP_COPY_ONLY],
  ] as const) {
    for (const errno of ['ENODEV', 'EIO', 'EINVAL'] as const) {
      it(`read(data_fd) failing with ${errno} in ${phase}: migration fails naming the device; RUNNING, fds closed`, async () => {
        const t = await sourceWith({ flags, stateSize: 256 * 1024 });
        t.model.failDataRead({ afterBytes: phase === 'iterate' ? 10 : 100_000, errno: E[errno] });
        const err = await failedMigration(t.vm);
        expect(err.phase).toBe(phase);
        expect(err.errno).toBe(errno);
        expect(err.reason).toBe('DEVICE_FAILED');
        expect(err.message).toContain(t.dev.emulated.device.name);
        t.model.clearFaults();
        t.expectRestored();
        t.vm.close();
      });
    }
  }

  it('QEMU 8.0: "data_fd out of sync": a new data_fd while one is open is closed and refused (EBADF)', async () => {
    const t = await sourceWith({ flags: STOP_COPY_ONLY });
    const state = t.dev.migration.state;
    state.setState(STOP, RUNNING);
    state.setState(STOP_COPY, STOP);
    const first = state.dataFile;
    const fdsWithOne = t.dev.emulated.kernel.openFds();
    // An asynchronous reset ends the session behind our back; the fd stays open.
    t.dev.emulated.device.reset();
    state.setState(STOP, RUNNING); // the cached state says STOP_COPY: the kernel walks RUNNING→STOP
    let err: unknown;
    try {
      state.setState(STOP_COPY, STOP);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VfioStateTransitionError);
    expect((err as VfioStateTransitionError).outcome).toBe('out-of-sync');
    expect((err as VfioStateTransitionError).errno).toBe('EBADF');
    expect(state.dataFile).toBe(first);
    expect(t.dev.emulated.kernel.openFds()).toEqual(fdsWithOne);
    state.closeDataFile();
    state.setStateOrReset(RUNNING);
    t.expectRestored();
    t.vm.close();
  });

  it('QEMU 8.0: the device is taken as RUNNING after a reset, and the next migration works', async () => {
    const t = await sourceWith({ flags: STOP_COPY_ONLY });
    t.model.failArc({ from: STOP, to: STOP_COPY, errno: E.EINVAL, leaveIn: ERROR, times: 1 });
    await failedMigration(t.vm);
    expect(t.dev.migration.state.state).toBe(RUNNING);
    const { info } = await saveToMemory(t.vm);
    expect(info.status).toBe('completed');
    t.vm.close();
  });

  it('a stream write failure in stop-copy fails the migration; device RUNNING, fds closed', async () => {
    const t = await sourceWith({ flags: STOP_COPY_ONLY, stateSize: 3 * 1024 * 1024 });
    const { QemuFileWriter } = await import('@savevm/stream');
    let written = 0;
    const channel = {
      writev(chunks: readonly Uint8Array[]): void {
        for (const c of chunks) written += c.length;
        if (written > 1024 * 1024) throw Object.assign(new Error('EPIPE'), { code: 'EPIPE' });
      },
      close: async () => undefined,
      shutdown: () => undefined,
    };
    const err = await t.vm.source.migrate(new QemuFileWriter(channel), { maxBandwidth: 0, maxIterations: 0 }).then(
      () => undefined,
      (e: unknown) => e as MigrationError,
    );
    expect(err?.phase).toBe('complete-precopy');
    expect(err?.reason).toBe('CONNECT_FAILED');
    t.expectRestored();
    t.vm.close();
  });
});
