/**
 * Migrations that never converge (issue 17, item 8): a running VM with a 64 MiB device whose
 * state moves only at stop-copy cannot fit 300 ms at 128 MiB/s. The stall is reported
 * (pending, threshold, rounds without progress) and the operator's policy applies — keep
 * going, switch over anyway, or step the downtime limit up (docs/design/convergence.md).
 */
import { describe, expect, it } from 'vitest';
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { ConvergenceMonitor, type MigrationInfo, RunState } from '../src/index.js';
import { resolveParameters } from '../src/parameters.js';
import { FakeClock } from './helpers/fake-clock.js';
import { World, readerOf, saveToMemory } from './helpers/world.js';

const SIZE = 64 << 20;

/** A STOP_COPY-only device: all of its state goes with the VM stopped. */
class StopCopyOnly {
  readonly state = Buffer.alloc(SIZE, 0x33);
  received: Buffer | undefined;
  saveSetup(f: QemuFileWriter): void {
    f.putBe32(0);
  }
  statePendingEstimate() {
    return { mustPrecopy: SIZE, canPostcopy: 0 };
  }
  saveLiveCompletePrecopy(f: QemuFileWriter): void {
    f.putBe32(SIZE);
    f.putBuffer(this.state);
  }
  async loadState(f: QemuFileReader): Promise<void> {
    const n = await f.getBe32();
    if (n > 0) this.received = await f.getBytes(n);
  }
}

function runningSource() {
  const clock = new FakeClock();
  const src = new World(RunState.RUNNING, clock);
  const dev = new StopCopyOnly();
  src.registry.register('dev', 0, 1, dev);
  return { src, dev, clock };
}

describe('a migration that does not converge', () => {
  it('keep-going (the default): reports the stall — pending, threshold, rounds without progress — and keeps the VM running', async () => {
    const { src } = runningSource();
    const seen: MigrationInfo[] = [];
    const sub = src.source.info$.subscribe((info) => {
      seen.push(info);
      if (info.convergence?.stalled === true && info.convergence.roundsWithoutProgress >= 25) src.source.cancel();
    });
    const failure = await saveToMemory(src, { downtimeLimitMs: 300 }).catch((e: unknown) => e);
    sub.unsubscribe();
    expect(failure).toMatchObject({ reason: 'CANCELLED' });
    const stalled = seen.find((i) => i.convergence?.stalled === true);
    expect(stalled?.convergence).toMatchObject({ policy: 'keep-going', windowRounds: 10, pendingBytes: SIZE, downtimeLimitMs: 300, forcedSwitchover: false });
    expect(stalled?.convergence?.roundsWithoutProgress).toBeGreaterThanOrEqual(10);
    expect(stalled?.convergence?.thresholdBytes).toBeGreaterThan(0);
    expect(stalled?.convergence?.thresholdBytes).toBeLessThan(SIZE);
    const final = src.source.info;
    expect(final.warnings.filter((w) => w.startsWith('not converging:'))).toHaveLength(1);
    expect(final.warnings[0]).toMatch(/^not converging: 67108864 bytes pending, threshold \d+ bytes \(downtime limit 300 ms\), 10 rounds without progress; policy keep-going$/);
    expect(src.runState.state).toBe(RunState.RUNNING);
  });

  it('switchover after N rounds without progress: the VM stops and the rest goes (the downtime may exceed the limit)', async () => {
    const { src, dev } = runningSource();
    const { bytes, info } = await saveToMemory(src, { downtimeLimitMs: 300, convergencePolicy: { kind: 'switchover', afterRounds: 15 } });
    expect(info.status).toBe('completed');
    expect(info.convergence).toMatchObject({ stalled: true, forcedSwitchover: true, roundsWithoutProgress: 15, policy: 'switchover' });
    expect(info.warnings.some((w) => w.startsWith('switching over anyway after 15 rounds without progress'))).toBe(true);
    expect(info.iterationCapReached).toBe(false);
    const dst = new World(RunState.INMIGRATE);
    const copy = new StopCopyOnly();
    dst.registry.register('dev', 0, 1, copy);
    await dst.destination.load(readerOf(bytes));
    expect(copy.received?.equals(dev.state)).toBe(true);
  });

  it('switchover after a time limit without progress', async () => {
    const { src } = runningSource();
    const { info } = await saveToMemory(src, { downtimeLimitMs: 300, convergencePolicy: { kind: 'switchover', afterRounds: 1_000_000, afterMs: 2000 } });
    expect(info.status).toBe('completed');
    expect(info.convergence?.forcedSwitchover).toBe(true);
    expect(info.warnings.some((w) => /^switching over anyway after \d+ ms without progress/.test(w))).toBe(true);
    expect(info.totalTimeMs).toBeGreaterThanOrEqual(2000);
  });

  it('step-downtime: the limit rises a step per stalled window until the state fits (here 600 ms), never past the ceiling', async () => {
    const { src } = runningSource();
    const { info } = await saveToMemory(src, { downtimeLimitMs: 300, convergencePolicy: { kind: 'step-downtime', stepMs: 150, ceilingMs: 1000 } });
    expect(info.status).toBe('completed');
    expect(info.convergence).toMatchObject({ policy: 'step-downtime', downtimeLimitMs: 600, downtimeSteps: 2, forcedSwitchover: false });
    expect(info.thresholdBytes).toBeGreaterThanOrEqual(SIZE);
  });

  it('step-downtime at its ceiling keeps going, reported as stalled', async () => {
    const { src } = runningSource();
    let last: MigrationInfo | undefined;
    const sub = src.source.info$.subscribe((info) => {
      last = info;
      if (info.convergence?.stalled === true && info.convergence.downtimeLimitMs === 400) src.source.cancel();
    });
    await saveToMemory(src, { downtimeLimitMs: 300, convergencePolicy: { kind: 'step-downtime', stepMs: 100, ceilingMs: 400 } }).catch(() => undefined);
    sub.unsubscribe();
    expect(last?.convergence).toMatchObject({ downtimeLimitMs: 400, downtimeSteps: 1 });
    expect(src.runState.state).toBe(RunState.RUNNING);
  });

  it('a migration that converges is never called stalled', async () => {
    const { src } = runningSource();
    const { info } = await saveToMemory(src, { downtimeLimitMs: 600 });
    expect(info.status).toBe('completed');
    expect(info.convergence?.stalled ?? false).toBe(false);
    expect(info.convergence?.forcedSwitchover ?? false).toBe(false);
    expect(info.warnings).toEqual([]);
  });
});

describe('ConvergenceMonitor', () => {
  it('counts rounds since the lowest pending; a new low resets the count', () => {
    const m = new ConvergenceMonitor({ kind: 'keep-going' }, 3, 300, 0);
    for (const pending of [100, 90, 95, 90, 91]) m.observe(pending, 10, 0);
    expect(m.info()).toMatchObject({ roundsWithoutProgress: 3, stalled: true, pendingBytes: 91 });
    m.observe(80, 10, 0);
    expect(m.info()).toMatchObject({ roundsWithoutProgress: 0, stalled: false });
  });

  it('parameters are checked', () => {
    expect(() => resolveParameters({ stallWindowRounds: 0 })).toThrow(/stallWindowRounds/);
    expect(() => resolveParameters({ convergencePolicy: { kind: 'step-downtime', stepMs: 0, ceilingMs: 1000 } })).toThrow(/stepMs/);
    expect(() => resolveParameters({ downtimeLimitMs: 500, convergencePolicy: { kind: 'step-downtime', stepMs: 10, ceilingMs: 400 } })).toThrow(/ceilingMs/);
    expect(resolveParameters().convergencePolicy).toEqual({ kind: 'keep-going' });
  });
});
