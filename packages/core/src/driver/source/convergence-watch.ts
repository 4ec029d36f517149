/**
 * The source's use of the {@link ConvergenceMonitor}: each round that did not converge is
 * fed to it, its verdict goes into the progress (`MigrationInfo.convergence`, one warning
 * when a stall begins), a stepped downtime limit into the threshold (see
 * `docs/design/convergence.md`).
 */
import type { MigrationParameters } from '../../parameters.js';
import { trace } from '../../tracing/trace-points.js';
import { ConvergenceMonitor } from '../convergence-policy.js';
import type { ProgressTracker } from '../progress.js';

/** Watches one source run's convergence. */
export class ConvergenceWatch {
  private readonly monitor: ConvergenceMonitor;
  private warned = false;

  /**
   * @param params the run's parameters (policy, window, downtime limit)
   * @param progress where the verdict is reported
   * @param startMs now, on the run's clock
   */
  constructor(
    params: Pick<MigrationParameters, 'convergencePolicy' | 'stallWindowRounds' | 'downtimeLimitMs'>,
    private readonly progress: ProgressTracker,
    startMs: number,
  ) {
    this.monitor = new ConvergenceMonitor(params.convergencePolicy, params.stallWindowRounds, params.downtimeLimitMs, startMs);
  }

  /**
   * Notes a round whose pending bytes did not fit the threshold.
   * @returns true when the policy says to switch over now
   */
  round(pendingBytes: number, thresholdBytes: number, nowMs: number): boolean {
    const action = this.monitor.observe(pendingBytes, thresholdBytes, nowMs);
    if (this.monitor.stalled && !this.warned) {
      this.warned = true;
      this.progress.warnings.push(this.monitor.describe());
      trace('migration_convergence_stalled', { pendingBytes, thresholdBytes: Math.round(thresholdBytes) });
    }
    if (action.kind === 'raise-downtime') {
      this.progress.setDowntimeLimit(action.downtimeLimitMs);
      trace('migration_convergence_downtime_step', { downtimeLimitMs: action.downtimeLimitMs });
    }
    if (action.kind === 'switchover') this.progress.warnings.push(action.why);
    this.progress.convergence = this.monitor.info();
    return action.kind === 'switchover';
  }
}
