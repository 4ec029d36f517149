/**
 * When the source switches over (QEMU `migration_iteration_run` + `migration_update_counters`;
 * see `docs/design/convergence.md`): the bandwidth measured per window, the threshold it
 * makes with the downtime limit, the iteration cap, and the convergence watch that applies
 * the operator's policy once the pending bytes stop shrinking.
 */
import { RATE_LIMIT_WINDOW_MS } from '@savevm/stream';
import { MigrationError } from '../../errors.js';
import type { MigrationParameters } from '../../parameters.js';
import type { ConvergenceInfo } from '../../status/migration-info.js';
import { trace } from '../../tracing/trace-points.js';
import type { MigrationClock } from '../clock.js';
import { ConvergenceMonitor } from '../convergence-policy.js';
import type { TransferFigures } from '../status-publisher.js';

/** Only a few bytes moved: no expected downtime yet (QEMU requires > 10000). */
const MIN_BYTES_FOR_EXPECTED_DOWNTIME = 10_000;
/** Bandwidth assumed before any was measured when there is no rate limit: QEMU's default max-bandwidth (MAX_THROTTLE). */
const ASSUMED_BANDWIDTH_BYTES_PER_S = 128 * 1024 * 1024;

/** The parameters the policy follows. */
export type SwitchoverParameters = Pick<
  MigrationParameters,
  'downtimeLimitMs' | 'availSwitchoverBandwidth' | 'maxBandwidth' | 'maxIterations' | 'iterationCapPolicy' | 'convergencePolicy' | 'stallWindowRounds'
>;

/** What a {@link SwitchoverPolicy} is made of. */
export interface SwitchoverPolicyOptions {
  /** The run's parameters. */
  readonly params: SwitchoverParameters;
  /** The run's time source. */
  readonly clock: MigrationClock;
  /** Where a warning goes (a stall begins, the policy forces switchover). */
  readonly warn: (text: string) => void;
}

/** What one round's pending bytes say (see {@link SwitchoverPolicy.judgeRound}). */
export type RoundVerdict =
  /** They fit the threshold, or the VM is stopped already: switch over. */
  | 'converged'
  /** They do not fit, but the convergence policy says to switch over anyway. */
  | 'forced'
  /** Iterate on. */
  | 'iterate';

/**
 * The switchover decision of one source run, and the transfer figures its infos report.
 * Bandwidth is measured per 100 ms window on the bytes the channel took (delivered), not the
 * bytes put: a queue in front of a slow link does not inflate it. The switchover threshold is
 * that bandwidth × the downtime limit and starts at 0; the expected downtime is the remaining
 * bytes over that bandwidth.
 */
export class SwitchoverPolicy implements TransferFigures {
  private readonly params: SwitchoverParameters;
  private readonly clock: MigrationClock;
  private readonly warn: (text: string) => void;
  private readonly monitor: ConvergenceMonitor;
  private downtimeLimitMs: number;
  private windowStartMs: number;
  private windowStartBytes = 0;
  private lastBandwidthBytesPerMs = 0;
  private measuredBandwidthBytesPerMs = 0;
  private idleInWindow = false;
  private threshold = 0;
  private pending = 0;
  /** The pending bytes and threshold of the round last judged. */
  private judged = { pendingBytes: 0, thresholdBytes: 0 };
  private expectedDowntime: number | undefined;
  private throughput = 0;
  private rounds = 0;
  private capReached = false;
  private stallWarned = false;
  private convergenceInfo: ConvergenceInfo | undefined;

  /** @param options the parameters, the clock and where warnings go */
  constructor(options: SwitchoverPolicyOptions) {
    this.params = options.params;
    this.clock = options.clock;
    this.warn = options.warn;
    this.downtimeLimitMs = options.params.downtimeLimitMs;
    this.windowStartMs = options.clock.now();
    this.monitor = new ConvergenceMonitor(options.params.convergencePolicy, options.params.stallWindowRounds, options.params.downtimeLimitMs, this.windowStartMs);
  }

  /** Switchover threshold in bytes (0 until a window closed). */
  get thresholdBytes(): number {
    return this.threshold;
  }

  /** Bytes per ms of the last closed window (0 until one closed). */
  get bandwidthBytesPerMs(): number {
    return this.lastBandwidthBytesPerMs;
  }

  /** Last summed pending bytes. */
  get remainingBytes(): number {
    return this.pending;
  }

  /** Remaining bytes over the assumed bandwidth, once enough bytes moved to say. */
  get expectedDowntimeMs(): number | undefined {
    return this.expectedDowntime;
  }

  /** Throughput of the last closed window, megabits per second. */
  get throughputMbps(): number {
    return this.throughput;
  }

  /** Rounds of iterate so far. */
  get iterations(): number {
    return this.rounds;
  }

  /** Whether the iteration cap forced switchover. */
  get iterationCapReached(): boolean {
    return this.capReached;
  }

  /** The convergence watch, once a round did not converge. */
  get convergence(): ConvergenceInfo | undefined {
    return this.convergenceInfo;
  }

  /** Notes the bytes still pending (what the last pending query summed; 0 once all was sent). */
  notePending(bytes: number): void {
    this.pending = bytes;
  }

  /** Counts one iterate round; returns its number. */
  countIteration(): number {
    return ++this.rounds;
  }

  /** Notes that the sender had nothing to send for a while in the current window. */
  markIdle(): void {
    this.idleInWindow = true;
  }

  /** Milliseconds until the current measuring window closes. */
  windowRemainingMs(): number {
    return Math.max(0, RATE_LIMIT_WINDOW_MS - (this.clock.now() - this.windowStartMs));
  }

  /**
   * Closes the measuring window when 100 ms have passed and the channel took bytes in it (or
   * the sender went idle): bandwidth, threshold, expected downtime and throughput (QEMU
   * `migration_update_counters`).
   * @param transferred bytes delivered so far: what the channel took
   *   (`QemuFileWriter.bytesFlushed`), never bytes still queued in the writer
   * @returns whether a window was closed
   */
  measure(transferred: number): boolean {
    const now = this.clock.now();
    const elapsed = now - this.windowStartMs;
    if (elapsed < RATE_LIMIT_WINDOW_MS) return false;
    const bytes = transferred - this.windowStartBytes;
    // Nothing taken yet by a sender that was not idle: the bytes in flight will be, all at
    // once. The window stays open, or they would be credited to a shorter window.
    if (bytes === 0 && !this.idleInWindow) return false;
    this.lastBandwidthBytesPerMs = bytes / elapsed;
    // A window in which the sender went idle measured the sender, not the link.
    if (bytes > 0 && !this.idleInWindow) this.measuredBandwidthBytesPerMs = this.lastBandwidthBytesPerMs;
    this.idleInWindow = false;
    // The expected downtime divides by the same bandwidth the switchover decision assumes (not
    // this window's, which an idle window, or a queue taken all at once, skews).
    const assumed = this.switchoverBandwidthBytesPerMs();
    this.threshold = assumed * this.downtimeLimitMs;
    this.throughput = (bytes * 8) / elapsed / 1000;
    if (transferred > MIN_BYTES_FOR_EXPECTED_DOWNTIME && assumed > 0) {
      this.expectedDowntime = this.pending / assumed;
    }
    this.windowStartMs = now;
    this.windowStartBytes = transferred;
    trace('migration_update_counters', {
      bandwidthBytesPerMs: this.lastBandwidthBytesPerMs,
      thresholdBytes: this.threshold,
      expectedDowntimeMs: this.expectedDowntime ?? 0,
    });
    return true;
  }

  /**
   * Judges one round's pending bytes (those still queued in the writer included). With the VM
   * already stopped (a snapshot of a paused VM) there is no downtime to keep short and nothing
   * will change by waiting: everything goes now, as QEMU's savevm does. A round that does not
   * fit is fed to the convergence watch, whose policy may force switchover.
   */
  judgeRound(pendingBytes: number, vmRunning: boolean): RoundVerdict {
    const threshold = this.threshold;
    this.judged = { pendingBytes, thresholdBytes: threshold };
    if (pendingBytes === 0 || pendingBytes <= threshold || !vmRunning) return 'converged';
    return this.watchConvergence(pendingBytes, threshold) ? 'forced' : 'iterate';
  }

  /**
   * At the iteration cap (`maxIterations`), what `iterationCapPolicy` says after the round last
   * judged: true to switch over now (reported as `iterationCapReached`); a TIMEOUT
   * `MigrationError` is thrown when it says fail. False below the cap.
   */
  switchoverAtCap(): boolean {
    if (this.rounds < this.params.maxIterations) return false;
    if (this.params.iterationCapPolicy === 'switchover') {
      this.capReached = true;
      return true;
    }
    throw new MigrationError({
      phase: 'iteration-cap',
      reason: 'TIMEOUT',
      detail:
        `not converged after ${this.rounds} iterations: ${this.judged.pendingBytes} bytes pending, ` +
        `threshold ${Math.round(this.judged.thresholdBytes)} bytes (downtime limit ${this.params.downtimeLimitMs} ms)`,
      errno: 'ETIMEDOUT',
    });
  }

  /**
   * Feeds a round that did not converge to the convergence monitor: one warning when a stall
   * begins, a stepped downtime limit into the threshold at once, a warning when the policy
   * forces switchover. Returns whether it does.
   */
  private watchConvergence(pendingBytes: number, thresholdBytes: number): boolean {
    const action = this.monitor.observe(pendingBytes, thresholdBytes, this.clock.now());
    if (this.monitor.stalled && !this.stallWarned) {
      this.stallWarned = true;
      this.warn(this.monitor.describe());
      trace('migration_convergence_stalled', { pendingBytes, thresholdBytes: Math.round(thresholdBytes) });
    }
    if (action.kind === 'raise-downtime') {
      this.downtimeLimitMs = action.downtimeLimitMs;
      this.threshold = this.switchoverBandwidthBytesPerMs() * action.downtimeLimitMs;
      trace('migration_convergence_downtime_step', { downtimeLimitMs: action.downtimeLimitMs });
    }
    if (action.kind === 'switchover') this.warn(action.why);
    this.convergenceInfo = this.monitor.info();
    return action.kind === 'switchover';
  }

  /**
   * The bandwidth the switchover decision assumes, bytes per ms: the user's
   * `availSwitchoverBandwidth` when set; else the last window that moved bytes without the
   * sender going idle. A window in which the sender had nothing to send (nothing was dirty,
   * or only stop-copy state remains) says nothing about the link, so it does not shrink the
   * threshold to what trickled through, as it would in QEMU; before anything was measured the
   * rate limit is assumed (QEMU's default 128 MiB/s when unlimited), so a device whose state
   * only moves at stop-copy can still converge.
   */
  private switchoverBandwidthBytesPerMs(): number {
    const { availSwitchoverBandwidth, maxBandwidth } = this.params;
    if (availSwitchoverBandwidth > 0) return availSwitchoverBandwidth / 1000;
    if (this.measuredBandwidthBytesPerMs > 0) return this.measuredBandwidthBytesPerMs;
    const limit = maxBandwidth > 0 && Number.isFinite(maxBandwidth) ? maxBandwidth : ASSUMED_BANDWIDTH_BYTES_PER_S;
    return limit / 1000;
  }
}
