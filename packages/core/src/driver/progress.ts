import { BehaviorSubject, type Observable } from 'rxjs';
import { RATE_LIMIT_WINDOW_MS } from '@savevm/stream';
import type { SaveStateEntry } from '../registry/save-state-entry.js';
import type { ConvergenceInfo, EntryProgress, MigrationInfo, MultifdChannelProgress } from '../status/migration-info.js';
import { MigrationStatus } from '../status/migration-status.js';
import type { StreamCompat } from '../stream-compat.js';
import { trace } from '../tracing/trace-points.js';
import type { MigrationClock } from './clock.js';

/** The statuses a migration ends in: each run pushes exactly one of them, last. */
const TERMINAL: ReadonlySet<MigrationStatus> = new Set<MigrationStatus>([
  MigrationStatus.COMPLETED,
  MigrationStatus.FAILED,
  MigrationStatus.CANCELLED,
]);

/** A time as published: whole milliseconds. */
function wholeMs(ms: number): number;
function wholeMs(ms: number | undefined): number | undefined;
function wholeMs(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms);
}

/** Only a few bytes moved: no expected downtime yet (QEMU requires > 10000). */
const MIN_BYTES_FOR_EXPECTED_DOWNTIME = 10_000;
/** Bandwidth assumed before any was measured when there is no rate limit: QEMU's default max-bandwidth (MAX_THROTTLE). */
const ASSUMED_BANDWIDTH_BYTES_PER_S = 128 * 1024 * 1024;

/** The "nothing happened yet" value of an info stream. */
export function idleInfo(): MigrationInfo {
  return {
    status: MigrationStatus.NONE,
    totalTimeMs: 0,
    setupTimeMs: undefined,
    downtimeMs: undefined,
    expectedDowntimeMs: undefined,
    transferredBytes: 0,
    remainingBytes: 0,
    throughputMbps: 0,
    iterations: 0,
    thresholdBytes: 0,
    iterationCapReached: false,
    entries: [],
    errorDescription: undefined,
    warnings: [],
  };
}

/**
 * The counters of one migration (QEMU `migration_update_counters`) and the
 * `MigrationInfo` values it pushes. Bandwidth is measured per 100 ms window on the bytes
 * the channel took (delivered), not the bytes put: a queue in front of a slow link does
 * not inflate it. The switchover threshold is that bandwidth × the downtime limit and
 * starts at 0; the expected downtime is the remaining bytes over that bandwidth.
 */
export class ProgressTracker {
  /** Current status. */
  status: MigrationStatus = MigrationStatus.NONE;
  /** Bytes each entry moved, by list position. */
  readonly entryBytes: Float64Array;
  /** Rounds of iterate. */
  iterations = 0;
  /** Last summed pending bytes. */
  remainingBytes = 0;
  /** Bytes per ms of the last window (0 until measured). */
  bandwidthBytesPerMs = 0;
  /** Switchover threshold in bytes. */
  thresholdBytes = 0;
  /** Whether the iteration cap forced switchover. */
  iterationCapReached = false;
  /** Setup time, once known. */
  setupTimeMs: number | undefined;
  /** Downtime, once known. */
  downtimeMs: number | undefined;
  /** Error text, once failed. */
  errorDescription: string | undefined;
  /** Non-fatal problems (cleanup hooks that threw after a completed migration, …). */
  readonly warnings: string[] = [];
  /** The convergence watch, once a round did not converge (source only). */
  convergence: ConvergenceInfo | undefined;
  /** The source's stream compat, reported in every info (undefined on the destination). */
  streamCompat: StreamCompat | undefined;
  /** With multifd: each channel's bytes so far, read at every info. */
  multifdBytes: (() => readonly number[]) | undefined;
  private readonly startMs: number;
  private endMs: number | undefined;
  private windowStartMs: number;
  private windowStartBytes = 0;
  private measuredBandwidthBytesPerMs = 0;
  private idleInWindow = false;
  private transferred = 0;
  private expectedDowntimeMs: number | undefined;
  private throughputMbps = 0;
  /** The terminal info was pushed: nothing more is. */
  private ended = false;

  /**
   * @param side which driver, for the status trace
   * @param entries the entries taking part
   * @param clock the time source
   * @param subject where infos are pushed
   * @param downtimeLimitMs for the threshold
   * @param availSwitchoverBandwidth bytes/s to assume instead of the measured bandwidth (0 = measure)
   * @param maxBandwidth the rate limit in bytes/s (0 or Infinity = unlimited), assumed until a window measured one
   */
  constructor(
    private readonly side: 'source' | 'destination',
    private readonly entries: readonly SaveStateEntry[],
    private readonly clock: MigrationClock,
    private readonly subject: BehaviorSubject<MigrationInfo>,
    private downtimeLimitMs = 0,
    private readonly availSwitchoverBandwidth = 0,
    private readonly maxBandwidth = 0,
  ) {
    this.entryBytes = new Float64Array(entries.length);
    this.startMs = this.windowStartMs = clock.now();
  }

  /**
   * The bandwidth the switchover decision assumes, bytes per ms: the user's
   * `availSwitchoverBandwidth` when set; else the last window that moved bytes without the
   * sender going idle. A window in which the sender had nothing to send (nothing was dirty,
   * or only stop-copy state remains) says nothing about the link, so it does not shrink the
   * threshold to what trickled through, as it would in QEMU; before
   * anything was measured the rate limit is assumed (QEMU's default 128 MiB/s when
   * unlimited), so a device whose state only moves at stop-copy can still converge.
   */
  private switchoverBandwidthBytesPerMs(): number {
    if (this.availSwitchoverBandwidth > 0) return this.availSwitchoverBandwidth / 1000;
    if (this.measuredBandwidthBytesPerMs > 0) return this.measuredBandwidthBytesPerMs;
    const limit = this.maxBandwidth > 0 && Number.isFinite(this.maxBandwidth) ? this.maxBandwidth : ASSUMED_BANDWIDTH_BYTES_PER_S;
    return limit / 1000;
  }

  /**
   * Uses a new downtime limit from now on (a convergence policy stepping it up): the
   * threshold is recomputed at once on the bandwidth the decision assumes.
   */
  setDowntimeLimit(ms: number): void {
    this.downtimeLimitMs = ms;
    this.thresholdBytes = this.switchoverBandwidthBytesPerMs() * ms;
  }

  /** Notes that the sender had nothing to send for a while in the current window. */
  markIdle(): void {
    this.idleInWindow = true;
  }

  /** Milliseconds until the current measuring window closes. */
  windowRemainingMs(): number {
    return Math.max(0, RATE_LIMIT_WINDOW_MS - (this.clock.now() - this.windowStartMs));
  }

  /** Milliseconds since the migration began. */
  elapsedMs(): number {
    return (this.endMs ?? this.clock.now()) - this.startMs;
  }

  /** Records the bytes moved so far (on the source, the bytes the channel took). */
  setTransferred(bytes: number): void {
    this.transferred = bytes;
  }

  /** Records the setup time as now. */
  markSetupDone(): void {
    this.setupTimeMs = this.elapsedMs();
  }

  /** Freezes the total time. */
  markEnded(): void {
    this.endMs ??= this.clock.now();
  }

  /**
   * Closes the measuring window when 100 ms have passed and the channel took bytes in it (or
   * the sender went idle): bandwidth, threshold, expected downtime and throughput (QEMU
   * `migration_update_counters`).
   * @param transferred bytes delivered so far: on the source, what the channel took
   *   (`QemuFileWriter.bytesFlushed`), never bytes still queued in the writer
   * @returns whether a window was closed
   */
  updateCounters(transferred: number): boolean {
    this.transferred = transferred;
    const now = this.clock.now();
    const elapsed = now - this.windowStartMs;
    if (elapsed < RATE_LIMIT_WINDOW_MS) return false;
    const bytes = transferred - this.windowStartBytes;
    // Nothing taken yet by a sender that was not idle: the bytes in flight will be, all at
    // once. The window stays open, or they would be credited to a shorter window.
    if (bytes === 0 && !this.idleInWindow) return false;
    this.bandwidthBytesPerMs = bytes / elapsed;
    // A window in which the sender went idle measured the sender, not the link.
    if (bytes > 0 && !this.idleInWindow) this.measuredBandwidthBytesPerMs = this.bandwidthBytesPerMs;
    this.idleInWindow = false;
    // The expected downtime divides by the same bandwidth the switchover decision assumes (not
    // this window's, which an idle window, or a queue taken all at once, skews).
    const assumed = this.switchoverBandwidthBytesPerMs();
    this.thresholdBytes = assumed * this.downtimeLimitMs;
    this.throughputMbps = (bytes * 8) / elapsed / 1000;
    if (transferred > MIN_BYTES_FOR_EXPECTED_DOWNTIME && assumed > 0) {
      this.expectedDowntimeMs = this.remainingBytes / assumed;
    }
    this.windowStartMs = now;
    this.windowStartBytes = transferred;
    trace('migration_update_counters', {
      bandwidthBytesPerMs: this.bandwidthBytesPerMs,
      thresholdBytes: this.thresholdBytes,
      expectedDowntimeMs: this.expectedDowntimeMs ?? 0,
    });
    return true;
  }

  /**
   * Sets the status (tracing it) and pushes an info. A terminal status (completed, failed,
   * cancelled) is not pushed here but by {@link publishFinal}, once the run's last work
   * (restart, cleanup, notifiers) is done, so it is pushed once and last.
   */
  setStatus(status: MigrationStatus): void {
    this.status = status;
    trace('migrate_set_state', { side: this.side, status });
    if (!TERMINAL.has(status)) this.publish();
  }

  /** Pushes the current info; nothing once the terminal info was pushed. */
  publish(): void {
    if (!this.ended) this.subject.next(this.info());
  }

  /**
   * Freezes the total time and pushes the final info, the only one with a terminal status;
   * nothing is pushed after it.
   * @returns the final info
   */
  publishFinal(): MigrationInfo {
    this.markEnded();
    const info = this.info();
    if (!this.ended) {
      this.ended = true;
      this.subject.next(info);
    }
    return info;
  }

  /** The current info, times in whole milliseconds (per-entry bytes are copied now and shaped into objects on first read). */
  info(): MigrationInfo {
    return new InfoSnapshot(this.entries, this.entryBytes.slice(), {
      status: this.status,
      totalTimeMs: wholeMs(this.elapsedMs()),
      setupTimeMs: wholeMs(this.setupTimeMs),
      downtimeMs: wholeMs(this.downtimeMs),
      expectedDowntimeMs: wholeMs(this.expectedDowntimeMs),
      transferredBytes: this.transferred,
      remainingBytes: this.remainingBytes,
      throughputMbps: this.throughputMbps,
      iterations: this.iterations,
      thresholdBytes: this.thresholdBytes,
      iterationCapReached: this.iterationCapReached,
      errorDescription: this.errorDescription,
      warnings: [...this.warnings],
      ...(this.convergence !== undefined && { convergence: this.convergence }),
      ...(this.streamCompat !== undefined && { streamCompat: this.streamCompat }),
      ...(this.multifdBytes !== undefined && { multifdChannels: this.multifdBytes().map((bytes, channel) => ({ channel, bytes })) }),
    });
  }
}

/** A `MigrationInfo` whose `entries` array is built lazily (it is large with many entries). */
class InfoSnapshot implements MigrationInfo {
  readonly status: MigrationStatus;
  readonly totalTimeMs: number;
  readonly setupTimeMs: number | undefined;
  readonly downtimeMs: number | undefined;
  readonly expectedDowntimeMs: number | undefined;
  readonly transferredBytes: number;
  readonly remainingBytes: number;
  readonly throughputMbps: number;
  readonly iterations: number;
  readonly thresholdBytes: number;
  readonly iterationCapReached: boolean;
  readonly errorDescription: string | undefined;
  readonly warnings: readonly string[];
  readonly streamCompat?: StreamCompat;
  readonly convergence?: ConvergenceInfo;
  readonly multifdChannels?: readonly MultifdChannelProgress[];
  private built: readonly EntryProgress[] | undefined;

  constructor(
    private readonly list: readonly SaveStateEntry[],
    private readonly bytes: Float64Array,
    fields: Omit<MigrationInfo, 'entries'>,
  ) {
    this.status = fields.status;
    this.totalTimeMs = fields.totalTimeMs;
    this.setupTimeMs = fields.setupTimeMs;
    this.downtimeMs = fields.downtimeMs;
    this.expectedDowntimeMs = fields.expectedDowntimeMs;
    this.transferredBytes = fields.transferredBytes;
    this.remainingBytes = fields.remainingBytes;
    this.throughputMbps = fields.throughputMbps;
    this.iterations = fields.iterations;
    this.thresholdBytes = fields.thresholdBytes;
    this.iterationCapReached = fields.iterationCapReached;
    this.errorDescription = fields.errorDescription;
    this.warnings = fields.warnings;
    if (fields.streamCompat !== undefined) this.streamCompat = fields.streamCompat;
    if (fields.convergence !== undefined) this.convergence = fields.convergence;
    if (fields.multifdChannels !== undefined) this.multifdChannels = fields.multifdChannels;
  }

  get entries(): readonly EntryProgress[] {
    if (this.built === undefined) {
      const out = new Array<EntryProgress>(this.list.length);
      for (let i = 0; i < out.length; i++) {
        const e = this.list[i] as SaveStateEntry;
        out[i] = { idstr: e.idstr, instanceId: e.instanceId, bytes: this.bytes[i] as number };
      }
      this.built = out;
    }
    return this.built;
  }

  /** A plain object: the info's fields and `entries`, not the entry list they are built from. */
  toJSON(): MigrationInfo {
    const { list: _list, bytes: _bytes, built: _built, ...fields } = this;
    return { ...fields, entries: this.entries } as MigrationInfo;
  }
}

/** A stream of infos that starts idle and always holds the latest value. */
export function createInfoSubject(): BehaviorSubject<MigrationInfo> {
  return new BehaviorSubject<MigrationInfo>(idleInfo());
}

/** The read-only view of an info subject. */
export function asInfoObservable(subject: BehaviorSubject<MigrationInfo>): Observable<MigrationInfo> {
  return subject.asObservable();
}
