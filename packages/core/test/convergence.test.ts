import { describe, expect, it } from 'vitest';
import { MigrationError, RunState } from '../src/index.js';
import { RamLikeDevice } from './helpers/devices.js';
import { FakeClock } from './helpers/fake-clock.js';
import { World, readerOf, saveToMemory } from './helpers/world.js';

const DOWNTIME_LIMIT_MS = 50;
const LINK_BYTES_PER_MS = 256; // one 256-byte page per fake millisecond

/** A source VM with one RAM-like device dirtied at `dirtyPagesPerMs`, on a fake clock. */
function setup(dirtyPagesPerMs: number) {
  const clock = new FakeClock();
  const src = new World(RunState.RUNNING, clock);
  const ram = new RamLikeDevice({ pages: 512, pageSize: 256, dirtyPagesPerMs, linkBytesPerMs: LINK_BYTES_PER_MS, maxPagesPerRound: 16, clock });
  src.registry.register('ram', 0, 4, ram);
  src.runState.addChangeHandler({ change: (running) => void (ram.running = running) });
  const dst = new World(RunState.INMIGRATE);
  const copy = new RamLikeDevice({ pages: 512, pageSize: 256 });
  dst.registry.register('ram', 0, 4, copy);
  return { clock, src, ram, dst, copy };
}

describe('a RAM-like device with a dirty rate', () => {
  it('converges within the downtime budget at a low rate (estimate first, then exact)', async () => {
    const { src, ram, dst, copy } = setup(0.05);
    const { bytes, info } = await saveToMemory(src, { downtimeLimitMs: DOWNTIME_LIMIT_MS, maxIterations: 1000 });
    expect(info.status).toBe('completed');
    expect(info.iterationCapReached).toBe(false);
    expect(info.iterations).toBeGreaterThan(20); // most of one pass of 512 pages, 16 per round
    expect(info.thresholdBytes).toBeGreaterThan(0);
    expect(info.downtimeMs).toBeDefined();
    expect(info.downtimeMs!).toBeLessThanOrEqual(DOWNTIME_LIMIT_MS * 1.1);
    // exact is asked only once the estimate is under the threshold
    expect(ram.log.count('statePendingExact')).toBeGreaterThan(0);
    expect(ram.log.count('statePendingExact')).toBeLessThan(ram.log.count('statePendingEstimate'));
    await dst.destination.load(readerOf(bytes));
    expect(copy.received?.equals(ram.memory)).toBe(true);
  });

  it('at a high rate, switches over at the iteration cap when the policy says so', async () => {
    const { src, ram, dst, copy } = setup(2);
    const { bytes, info } = await saveToMemory(src, {
      downtimeLimitMs: DOWNTIME_LIMIT_MS,
      maxIterations: 40,
      iterationCapPolicy: 'switchover',
    });
    expect(info.status).toBe('completed');
    expect(info.iterationCapReached).toBe(true);
    expect(info.iterations).toBe(40);
    expect(info.downtimeMs!).toBeGreaterThan(DOWNTIME_LIMIT_MS); // the budget could not be met
    expect(ram.log.count('statePendingExact')).toBe(0); // never under the threshold
    await dst.destination.load(readerOf(bytes));
    expect(copy.received?.equals(ram.memory)).toBe(true);
  });

  it('at a high rate, fails at the iteration cap when the policy says so; the VM keeps running', async () => {
    const { src, ram } = setup(2);
    const failure = await saveToMemory(src, { downtimeLimitMs: DOWNTIME_LIMIT_MS, maxIterations: 40, iterationCapPolicy: 'fail' }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MigrationError);
    expect((failure as MigrationError).phase).toBe('iteration-cap');
    expect((failure as MigrationError).message).toMatch(/not converged after 40 iterations/);
    expect(src.sourceStatuses).toEqual(['none', 'setup', 'active', 'failed']);
    expect(src.runState.state).toBe(RunState.RUNNING);
    expect(ram.running).toBe(true);
    expect(ram.log.count('saveCleanup')).toBe(1);
    expect(src.source.info.errorDescription).toMatch(/iteration-cap/);
  });
});
