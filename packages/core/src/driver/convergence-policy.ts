/**
 * What the live loop does when a migration stops converging (see
 * `docs/design/convergence.md`): it watches the pending bytes round after round, says so
 * once they have not shrunk for a window of rounds, and applies the operator's
 * {@link ConvergencePolicy}: keep going, switch over anyway, or step the downtime limit up
 * to a ceiling.
 */
import type { ConvergencePolicy } from '../parameters.js';
import type { ConvergenceInfo } from '../status/migration-info.js';

/** What the loop should do after a round was observed. */
export type ConvergenceAction =
  /** Go on iterating. */
  | {
      /** `continue`. */
      readonly kind: 'continue';
    }
  /** Switch over now, although the pending bytes do not fit the threshold. */
  | {
      /** `switchover`. */
      readonly kind: 'switchover';
      /** Why, for a warning. */
      readonly why: string;
    }
  /** Use this downtime limit from now on (ms); the threshold grows with it. */
  | {
      /** `raise-downtime`. */
      readonly kind: 'raise-downtime';
      /** The new downtime limit, ms. */
      readonly downtimeLimitMs: number;
    };

const CONTINUE: ConvergenceAction = { kind: 'continue' };

/**
 * Watches the pending bytes of each decision round of one migration. A round makes
 * progress when the pending bytes fall below the lowest value seen so far; once
 * `windowRounds` rounds in a row made none, the migration is *stalled* until one does.
 */
export class ConvergenceMonitor {
  private lowest = Infinity;
  private roundsWithoutProgress = 0;
  private lastProgressMs: number;
  private stalledSinceMs: number | undefined;
  private downtimeLimitMs: number;
  private pending = 0;
  private threshold = 0;
  private forced = false;
  private steps = 0;

  /**
   * @param policy what to do once stalled
   * @param windowRounds rounds without progress that make a stall (≥ 1)
   * @param downtimeLimitMs the downtime limit the migration started with
   * @param startMs now, on the migration's clock
   */
  constructor(
    private readonly policy: ConvergencePolicy,
    private readonly windowRounds: number,
    downtimeLimitMs: number,
    startMs: number,
  ) {
    this.downtimeLimitMs = downtimeLimitMs;
    this.lastProgressMs = startMs;
  }

  /** Whether the pending bytes have not shrunk for a whole window of rounds. */
  get stalled(): boolean {
    return this.stalledSinceMs !== undefined;
  }

  /**
   * Notes one round that did not converge (pending above the threshold) and says what to do.
   * @param pendingBytes the round's pending bytes (what would go with the VM stopped)
   * @param thresholdBytes what fits the current downtime limit
   * @param nowMs now, on the migration's clock
   */
  observe(pendingBytes: number, thresholdBytes: number, nowMs: number): ConvergenceAction {
    this.pending = pendingBytes;
    this.threshold = thresholdBytes;
    if (pendingBytes < this.lowest) {
      this.lowest = pendingBytes;
      this.roundsWithoutProgress = 0;
      this.lastProgressMs = nowMs;
      this.stalledSinceMs = undefined;
      return CONTINUE;
    }
    this.roundsWithoutProgress++;
    if (this.roundsWithoutProgress < this.windowRounds) return CONTINUE;
    this.stalledSinceMs ??= nowMs;
    return this.apply(nowMs);
  }

  /** The stall as `MigrationInfo.convergence` reports it. */
  info(): ConvergenceInfo {
    return {
      stalled: this.stalled,
      roundsWithoutProgress: this.roundsWithoutProgress,
      windowRounds: this.windowRounds,
      pendingBytes: this.pending,
      thresholdBytes: Math.round(this.threshold),
      downtimeLimitMs: this.downtimeLimitMs,
      policy: this.policy.kind,
      downtimeSteps: this.steps,
      forcedSwitchover: this.forced,
    };
  }

  /** One line for a warning or a progress view. */
  describe(): string {
    return (
      `not converging: ${this.pending} bytes pending, threshold ${Math.round(this.threshold)} bytes ` +
      `(downtime limit ${this.downtimeLimitMs} ms), ${this.roundsWithoutProgress} rounds without progress; policy ${this.policy.kind}`
    );
  }

  private apply(nowMs: number): ConvergenceAction {
    const p = this.policy;
    switch (p.kind) {
      case 'keep-going':
        return CONTINUE;
      case 'switchover': {
        const rounds = p.afterRounds ?? this.windowRounds;
        const afterMs = p.afterMs ?? Infinity;
        const quietMs = nowMs - this.lastProgressMs;
        if (this.roundsWithoutProgress < rounds && quietMs < afterMs) return CONTINUE;
        this.forced = true;
        const why = this.roundsWithoutProgress >= rounds ? `${this.roundsWithoutProgress} rounds` : `${Math.round(quietMs)} ms`;
        return { kind: 'switchover', why: `switching over anyway after ${why} without progress (${this.describe()})` };
      }
      case 'step-downtime': {
        if (this.downtimeLimitMs >= p.ceilingMs) return CONTINUE;
        this.downtimeLimitMs = Math.min(p.ceilingMs, this.downtimeLimitMs + p.stepMs);
        this.steps++;
        // A new limit gets a whole window to show whether it is enough (still reported as
        // stalled until the pending bytes shrink).
        this.roundsWithoutProgress = 0;
        this.lowest = this.pending;
        return { kind: 'raise-downtime', downtimeLimitMs: this.downtimeLimitMs };
      }
    }
  }
}
