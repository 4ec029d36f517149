/**
 * What a run tells its watchers: the status and the counters of one migration, pushed as
 * `MigrationInfo` values (QMP `query-migrate`; see `docs/design/handler-lifecycle.md` §2, §5).
 * The source's transfer figures (bandwidth, threshold, iterations, convergence) come from its
 * `SwitchoverPolicy`; the publisher only reads them when it pushes.
 */
import { BehaviorSubject, type Observable } from 'rxjs';
import type { SaveStateEntry } from '../registry/save-state-entry.js';
import { InfoSnapshot } from '../status/info-snapshot.js';
import type { ConvergenceInfo, MigrationInfo } from '../status/migration-info.js';
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

/** The figures of a live transfer a `MigrationInfo` reports (on the source, its `SwitchoverPolicy`). */
export interface TransferFigures {
  /** Last summed pending bytes. */
  readonly remainingBytes: number;
  /** Remaining bytes over the assumed bandwidth, once enough bytes moved to say. */
  readonly expectedDowntimeMs: number | undefined;
  /** Throughput of the last measured window, megabits per second. */
  readonly throughputMbps: number;
  /** Rounds of iterate. */
  readonly iterations: number;
  /** Switchover threshold in bytes. */
  readonly thresholdBytes: number;
  /** Whether the iteration cap forced switchover. */
  readonly iterationCapReached: boolean;
  /** The convergence watch, once a round did not converge. */
  readonly convergence: ConvergenceInfo | undefined;
}

/** The figures of a run that has no live transfer to measure (the destination). */
const NO_TRANSFER_FIGURES: TransferFigures = {
  remainingBytes: 0,
  expectedDowntimeMs: undefined,
  throughputMbps: 0,
  iterations: 0,
  thresholdBytes: 0,
  iterationCapReached: false,
  convergence: undefined,
};

/** What a {@link StatusPublisher} is made of. */
export interface StatusPublisherOptions {
  /** Which run, for the status trace. */
  readonly side: 'source' | 'destination';
  /** The entries taking part, in list order. */
  readonly entries: readonly SaveStateEntry[];
  /** The time source. */
  readonly clock: MigrationClock;
  /** Where infos are pushed. */
  readonly infos: BehaviorSubject<MigrationInfo>;
  /** The live transfer's figures, read at every push (default: none, all zero). */
  readonly figures?: TransferFigures | undefined;
  /** The source's stream compat, reported in every info. */
  readonly streamCompat?: StreamCompat | undefined;
  /** With multifd: each channel's bytes so far, read at every push. */
  readonly multifdBytes?: (() => readonly number[]) | undefined;
}

/**
 * The status and counters of one run, and the `MigrationInfo` values they make: every change
 * goes through a method; a terminal status is pushed once, last, by {@link publishFinal}.
 */
export class StatusPublisher {
  private current: MigrationStatus = MigrationStatus.NONE;
  /** Bytes each entry moved, by list position. */
  private readonly entryBytes: Float64Array;
  private readonly warnings: string[] = [];
  private readonly startMs: number;
  private endMs: number | undefined;
  private setupTimeMs: number | undefined;
  private downtimeMs: number | undefined;
  private errorDescription: string | undefined;
  private transferred = 0;
  /** The terminal info was pushed: nothing more is. */
  private ended = false;

  /** @param options the run's side, entries, clock, info subject and what else each info reports */
  constructor(private readonly options: StatusPublisherOptions) {
    this.entryBytes = new Float64Array(options.entries.length);
    this.startMs = options.clock.now();
  }

  /** The current status. */
  get status(): MigrationStatus {
    return this.current;
  }

  /**
   * Sets the status (tracing it) and pushes an info. A terminal status (completed, failed,
   * cancelled) is not pushed here but by {@link publishFinal}, once the run's last work
   * (restart, cleanup, notifiers) is done, so it is pushed once and last.
   */
  setStatus(status: MigrationStatus): void {
    this.current = status;
    trace('migrate_set_state', { side: this.options.side, status });
    if (!TERMINAL.has(status)) this.publish();
  }

  /** Records the setup time as now. */
  markSetupDone(): void {
    this.setupTimeMs = this.elapsedMs();
  }

  /** Records the downtime (from VM stop to the last byte). */
  setDowntime(ms: number): void {
    this.downtimeMs = ms;
  }

  /** Records the bytes moved so far (on the source, the bytes the channel took). */
  setTransferred(bytes: number): void {
    this.transferred = bytes;
  }

  /** Adds `bytes` to what the entry at list position `index` moved. */
  addEntryBytes(index: number, bytes: number): void {
    this.entryBytes[index] = (this.entryBytes[index] as number) + bytes;
  }

  /** Notes a non-fatal problem (a cleanup hook that threw after a completed migration, …). */
  warn(text: string): void {
    this.warnings.push(text);
  }

  /** Notes the failure the run ends with (`error-desc`). */
  setError(error: Error): void {
    this.errorDescription = error.message;
  }

  /** Pushes the current info; nothing once the terminal info was pushed. */
  publish(): void {
    if (!this.ended) this.options.infos.next(this.info());
  }

  /**
   * Freezes the total time and pushes the final info, the only one with a terminal status;
   * nothing is pushed after it.
   * @returns the final info
   */
  publishFinal(): MigrationInfo {
    this.endMs ??= this.options.clock.now();
    const info = this.info();
    if (!this.ended) {
      this.ended = true;
      this.options.infos.next(info);
    }
    return info;
  }

  /** The current info, times in whole milliseconds (per-entry bytes are copied now and shaped into objects on first read). */
  info(): MigrationInfo {
    const { entries, figures = NO_TRANSFER_FIGURES, streamCompat, multifdBytes } = this.options;
    const convergence = figures.convergence;
    return new InfoSnapshot(entries, this.entryBytes.slice(), {
      status: this.current,
      totalTimeMs: wholeMs(this.elapsedMs()),
      setupTimeMs: wholeMs(this.setupTimeMs),
      downtimeMs: wholeMs(this.downtimeMs),
      expectedDowntimeMs: wholeMs(figures.expectedDowntimeMs),
      transferredBytes: this.transferred,
      remainingBytes: figures.remainingBytes,
      throughputMbps: figures.throughputMbps,
      iterations: figures.iterations,
      thresholdBytes: figures.thresholdBytes,
      iterationCapReached: figures.iterationCapReached,
      errorDescription: this.errorDescription,
      warnings: [...this.warnings],
      ...(convergence !== undefined && { convergence }),
      ...(streamCompat !== undefined && { streamCompat }),
      ...(multifdBytes !== undefined && { multifdChannels: multifdBytes().map((bytes, channel) => ({ channel, bytes })) }),
    });
  }

  /** Milliseconds since the run began; frozen once it ended. */
  private elapsedMs(): number {
    return (this.endMs ?? this.options.clock.now()) - this.startMs;
  }
}

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

/** A stream of infos that starts idle and always holds the latest value. */
export function createInfoSubject(): BehaviorSubject<MigrationInfo> {
  return new BehaviorSubject<MigrationInfo>(idleInfo());
}

/** The read-only view of an info subject. */
export function asInfoObservable(subject: BehaviorSubject<MigrationInfo>): Observable<MigrationInfo> {
  return subject.asObservable();
}
