import { QemuFileWriter, type QemuFileReader } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { RunState, type MigrationClock, type MigrationInfo, type MigrationParameters, type PendingBytes, type SaveVMHandlers } from '../src/index.js';
import { EventClock, SlowLink } from './helpers/sim-link.js';
import { World, readerOf } from './helpers/world.js';

const END = 0xffffffff;

/**
 * A live device of `pages` pages with a dirty bitmap; while the VM runs the guest dirties
 * `dirtyPagesPerMs` pages per fake millisecond. Its iterate hook is synchronous and honours
 * `rateLimitExceeded()`, putting copies of the pages (the guest keeps writing them).
 */
class PagedDevice implements SaveVMHandlers {
  readonly memory: Buffer;
  private readonly dirty: Uint8Array;
  private dirtyCount = 0;
  private lastMs = 0;
  private carry = 0;
  private rng: number;
  running = true;
  received: Buffer | undefined;
  /** `f.bytesQueued` when each iterate call began, and the most seen after any put. */
  readonly queuedAtCall: number[] = [];
  maxQueued = 0;

  constructor(
    readonly pages: number,
    readonly pageSize: number,
    private readonly clock: MigrationClock | undefined,
    private readonly dirtyPagesPerMs = 0,
    seed = 7,
  ) {
    this.rng = seed;
    this.memory = Buffer.alloc(pages * pageSize);
    for (let i = 0; i < this.memory.length; i += 64) this.memory[i] = this.random() & 0xff;
    this.dirty = new Uint8Array(pages);
  }

  private random(): number {
    this.rng = (Math.imul(this.rng, 1103515245) + 12345) >>> 0;
    return this.rng >>> 8;
  }

  private mark(page: number): void {
    if (this.dirty[page] === 0) {
      this.dirty[page] = 1;
      this.dirtyCount++;
    }
  }

  /** The guest writes for the fake time that passed. */
  private guestRuns(): void {
    if (this.clock === undefined) return;
    const now = this.clock.now();
    this.carry += (now - this.lastMs) * this.dirtyPagesPerMs;
    this.lastMs = now;
    if (!this.running) return;
    for (; this.carry >= 1; this.carry--) {
      const page = this.random() % this.pages;
      this.memory[page * this.pageSize + (this.random() % this.pageSize)] = this.random() & 0xff;
      this.mark(page);
    }
  }

  private send(f: QemuFileWriter, honourLimit: boolean): void {
    for (let page = 0; page < this.pages && this.dirtyCount > 0; page++) {
      if (this.dirty[page] === 0) continue;
      if (honourLimit && f.rateLimitExceeded()) break;
      f.putBe32(page);
      f.putBuffer(this.memory.subarray(page * this.pageSize, (page + 1) * this.pageSize), 'copy');
      this.dirty[page] = 0;
      this.dirtyCount--;
      if (honourLimit) this.maxQueued = Math.max(this.maxQueued, f.bytesQueued);
    }
    f.putBe32(END);
  }

  saveSetup(f: QemuFileWriter): void {
    f.putBe32(this.pages);
    for (let p = 0; p < this.pages; p++) this.mark(p);
    this.lastMs = this.clock?.now() ?? 0;
  }

  statePendingEstimate(): PendingBytes {
    this.guestRuns();
    return { mustPrecopy: this.dirtyCount * this.pageSize, canPostcopy: 0 };
  }

  saveLiveIterate(f: QemuFileWriter): boolean {
    this.queuedAtCall.push(f.bytesQueued);
    this.guestRuns();
    this.send(f, true);
    return this.dirtyCount === 0;
  }

  saveLiveCompletePrecopy(f: QemuFileWriter): void {
    this.guestRuns();
    this.send(f, false);
  }

  async loadState(f: QemuFileReader): Promise<void> {
    if (this.received === undefined) {
      if ((await f.getBe32()) !== this.pages) throw new Error('page count differs');
      this.received = Buffer.alloc(this.pages * this.pageSize);
      return;
    }
    for (;;) {
      const page = await f.getBe32();
      if (page === END) return;
      if (page >= this.pages) throw new Error(`page ${page} out of range`);
      await f.readInto(this.received.subarray(page * this.pageSize, (page + 1) * this.pageSize));
    }
  }
}

interface Run {
  info: MigrationInfo;
  infos: MigrationInfo[];
  devices: PagedDevice[];
  link: SlowLink;
}

/** Migrates `devices` PagedDevices (default 1) over a SlowLink and checks that the destination got the same memory. */
async function migrateOverLink(o: {
  bytesPerMs: number;
  queueCap: number;
  devices?: number;
  pages?: number;
  dirtyPagesPerMs?: number;
  params: Partial<MigrationParameters>;
}): Promise<Run> {
  const clock = new EventClock();
  const src = new World(RunState.RUNNING, clock);
  const dst = new World(RunState.INMIGRATE);
  const devices: PagedDevice[] = [];
  const copies: PagedDevice[] = [];
  for (let i = 0; i < (o.devices ?? 1); i++) {
    const device = new PagedDevice(o.pages ?? 128, 16 * 1024, clock, o.dirtyPagesPerMs ?? 0, 7 + i);
    src.registry.register(`paged${i}`, 0, 1, device);
    src.runState.addChangeHandler({ change: (running) => void (device.running = running) });
    devices.push(device);
    const copy = new PagedDevice(o.pages ?? 128, 16 * 1024, undefined);
    dst.registry.register(`paged${i}`, 0, 1, copy);
    copies.push(copy);
  }
  const link = new SlowLink(clock, o.bytesPerMs);
  const infos: MigrationInfo[] = [];
  src.source.info$.subscribe((i) => infos.push(i));
  const f = new QemuFileWriter(link, { queueCap: o.queueCap });
  const info = await src.source.migrate(f, { maxBandwidth: 0, ...o.params });
  await dst.destination.load(readerOf(link.out.bytes()));
  copies.forEach((copy, i) => expect(copy.received?.equals((devices[i] as PagedDevice).memory)).toBe(true));
  return { info, infos, devices, link };
}

describe('the live loop over a link slower than the writer', () => {
  it('calls no hook while the queue is at its cap, in a round or between rounds: never more than the cap and one page held', async () => {
    const cap = 256 * 1024;
    const { info, infos, devices, link } = await migrateOverLink({ bytesPerMs: 1000, queueCap: cap, devices: 2, params: { downtimeLimitMs: 300 } });
    expect(info.status).toBe('completed');
    // The loop waits for the channel between rounds: about one pass per write taken (a loop
    // that spun on the event loop instead would make a hundred times as many).
    expect(infos.filter((i) => i.status === 'active').length).toBeLessThan(link.writes + 50);
    for (const device of devices) {
      expect(device.queuedAtCall.length).toBeGreaterThan(1);
      for (const q of device.queuedAtCall) expect(q).toBeLessThan(cap);
      expect(device.maxQueued).toBeGreaterThanOrEqual(cap);
      expect(device.maxQueued).toBeLessThan(cap + device.pageSize + 64);
    }
  });

  it('measures bandwidth on the bytes the channel took: threshold and expected downtime follow the link, not the queue', async () => {
    const bytesPerMs = 1000;
    const limitMs = 300;
    const { info, infos } = await migrateOverLink({ bytesPerMs, queueCap: 1 << 20, pages: 1024, params: { downtimeLimitMs: limitMs } });
    expect(info.status).toBe('completed');
    const thresholds = infos.map((i) => i.thresholdBytes).filter((t) => t > 0);
    expect(thresholds.length).toBeGreaterThan(5);
    // Counted as put, the first window would take in the whole 1 MiB queue: ten times the link.
    for (const t of thresholds) expect(t).toBeLessThanOrEqual(bytesPerMs * limitMs * 1.05);
    expect(thresholds[thresholds.length - 1]).toBeGreaterThanOrEqual(bytesPerMs * limitMs * 0.9);
    const expected = infos.filter((i) => i.status === 'active' && i.expectedDowntimeMs !== undefined && i.remainingBytes > 0);
    expect(expected.length).toBeGreaterThan(5);
    for (const i of expected) expect(i.expectedDowntimeMs).toBeGreaterThanOrEqual((i.remainingBytes / bytesPerMs) * 0.95 - 1);
  });

  it('counts the queued bytes as remaining: the switchover keeps the downtime within the limit however large the cap', async () => {
    const limitMs = 50;
    const { info } = await migrateOverLink({
      bytesPerMs: 1000,
      queueCap: 1 << 20, // 20 × what the link moves in the downtime limit
      dirtyPagesPerMs: 0.005,
      params: { downtimeLimitMs: limitMs, maxIterations: 10_000, iterationCapPolicy: 'fail' },
    });
    expect(info.status).toBe('completed');
    expect(info.downtimeMs).toBeDefined();
    expect(info.downtimeMs!).toBeLessThanOrEqual(limitMs * 1.1);
  });
});
