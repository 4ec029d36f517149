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

/** A device whose state only moves at stop-copy (a STOP_COPY-only VFIO device): nothing to iterate. */
class StopCopyOnlyDevice {
  readonly state: Buffer;
  received: Buffer | undefined;
  constructor(bytes: number) {
    this.state = Buffer.alloc(bytes, 0x5a);
  }
  saveSetup(f: import('@savevm/stream').QemuFileWriter): void {
    f.putBe32(0); // an empty START body, in the same format
  }
  statePendingEstimate() {
    return { mustPrecopy: 0, canPostcopy: 0 };
  }
  statePendingExact() {
    return { mustPrecopy: this.state.length, canPostcopy: 0 };
  }
  saveLiveCompletePrecopy(f: import('@savevm/stream').QemuFileWriter): void {
    f.putBe32(this.state.length);
    f.putBuffer(this.state);
  }
  async loadState(f: import('@savevm/stream').QemuFileReader): Promise<void> {
    const n = await f.getBe32();
    if (n > 0) this.received = await f.getBytes(n);
  }
}

describe('a device whose state moves only at stop-copy', () => {
  it('converges on the assumed bandwidth once a window closes with nothing sent, without spinning', async () => {
    const clock = new FakeClock();
    const src = new World(RunState.RUNNING, clock);
    const dev = new StopCopyOnlyDevice(1 << 20);
    src.registry.register('dev', 0, 1, dev);
    const started = clock.now();
    // 1 MiB fits 128 MiB/s × 300 ms: QEMU's threshold would stay 0 for ever here.
    const { bytes, info } = await saveToMemory(src, { maxBandwidth: 0, downtimeLimitMs: 300 });
    expect(info.status).toBe('completed');
    expect(info.iterationCapReached).toBe(false);
    expect(info.iterations).toBe(1); // one idle round waited for the window, then switchover
    expect(clock.now() - started).toBeGreaterThanOrEqual(100);
    const dst = new World(RunState.INMIGRATE);
    const copy = new StopCopyOnlyDevice(0);
    dst.registry.register('dev', 0, 1, copy);
    await dst.destination.load(readerOf(bytes));
    expect(copy.received?.equals(dev.state)).toBe(true);
  });

  it('does not converge when the state cannot fit the downtime budget; the iteration cap decides', async () => {
    const clock = new FakeClock();
    const src = new World(RunState.RUNNING, clock);
    src.registry.register('dev', 0, 1, new StopCopyOnlyDevice(64 << 20));
    const failure = await saveToMemory(src, { maxBandwidth: 0, downtimeLimitMs: 300, maxIterations: 5, iterationCapPolicy: 'fail' }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MigrationError);
    expect((failure as MigrationError).phase).toBe('iteration-cap');
    expect((failure as MigrationError).reason).toBe('TIMEOUT');
    expect(src.runState.state).toBe(RunState.RUNNING);
  });
});

/** A pre-copy device whose initial data is sent, then has nothing more until stop-copy (mtty). */
class DrainedPreCopyDevice extends StopCopyOnlyDevice {
  private sentHeader = false;
  saveLiveIterate(f: import('@savevm/stream').QemuFileWriter): boolean {
    if (!this.sentHeader) {
      f.putBe32(24);
      f.putBuffer(Buffer.alloc(24, 1));
      this.sentHeader = true;
    } else {
      f.putBe32(0); // an empty PART: nothing now
    }
    return true;
  }
  override async loadState(f: import('@savevm/stream').QemuFileReader): Promise<void> {
    const n = await f.getBe32();
    if (n === 24) await f.getBytes(24);
    else if (n > 0) this.received = await f.getBytes(n);
  }
}

describe('a pre-copy device that drained its initial data (mtty, found on the kernel lane)', () => {
  it('empty rounds do not shrink the threshold: it converges on the assumed bandwidth', async () => {
    const clock = new FakeClock();
    const src = new World(RunState.RUNNING, clock);
    const dev = new DrainedPreCopyDevice(96);
    src.registry.register('dev', 0, 1, dev);
    const { bytes, info } = await saveToMemory(src, { maxBandwidth: 0, downtimeLimitMs: 1, maxIterations: 50 });
    expect(info.status).toBe('completed');
    expect(info.iterationCapReached).toBe(false);
    expect(info.thresholdBytes).toBeGreaterThan(96);
    expect(info.iterations).toBeLessThan(5);
    const dst = new World(RunState.INMIGRATE);
    const copy = new DrainedPreCopyDevice(0);
    dst.registry.register('dev', 0, 1, copy);
    await dst.destination.load(readerOf(bytes));
    expect(copy.received?.equals(dev.state)).toBe(true);
  });
});

describe('a migration of a paused VM (a snapshot)', () => {
  it('switches over at once, however large the stop-copy state: there is no downtime to keep short', async () => {
    const clock = new FakeClock();
    const src = new World(RunState.PAUSED, clock);
    const dev = new StopCopyOnlyDevice(64 << 20);
    src.registry.register('dev', 0, 1, dev);
    // (Without the rule, the idle rounds would run into this cap and fail.)
    const { info } = await saveToMemory(src, { maxBandwidth: 0, downtimeLimitMs: 300, maxIterations: 20, iterationCapPolicy: 'fail' });
    expect(info.status).toBe('completed');
    expect(info.iterations).toBe(0);
    expect(src.runState.state).not.toBe(RunState.RUNNING);
  });
});

describe('the final info', () => {
  it('reports nothing remaining once completed', async () => {
    const src = new World(RunState.PAUSED, new FakeClock());
    src.registry.register('dev', 0, 1, new StopCopyOnlyDevice(1 << 20));
    const { info } = await saveToMemory(src);
    expect(info.status).toBe('completed');
    expect(info.remainingBytes).toBe(0);
  });
});
