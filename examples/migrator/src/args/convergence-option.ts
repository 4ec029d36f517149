/**
 * `savevm migrate --converge POLICY` and `--stall-rounds N`: what the source does once the
 * pending bytes stopped shrinking for a window of rounds (core's `convergencePolicy` and
 * `stallWindowRounds`; docs/design/convergence.md).
 *
 * - `keep-going` (the default): go on iterating, reported as not converging;
 * - `switchover[,rounds=N][,after=DURATION]`: switch over anyway after N rounds without
 *   progress (default: the window) or DURATION without progress;
 * - `step-downtime[,step=DURATION][,ceiling=DURATION]`: raise the downtime limit by `step`
 *   (default 100ms) per stalled window, up to `ceiling` (default 2s).
 */
import { type ConvergencePolicy, DEFAULT_CONVERGENCE_POLICY } from '@savevm/core';
import { parseCount, parseDurationMs } from './units.js';
import { UsageError } from './usage-error.js';

/** `step-downtime`'s default step: 100 ms. */
export const DEFAULT_DOWNTIME_STEP_MS = 100;
/** `step-downtime`'s default ceiling: 2 s. */
export const DEFAULT_DOWNTIME_CEILING_MS = 2000;

/** Parses `--converge`; undefined gives the default (keep going). */
export function parseConvergePolicy(value: string | undefined): ConvergencePolicy {
  if (value === undefined) return DEFAULT_CONVERGENCE_POLICY;
  const [kind = '', ...options] = value.split(',');
  const pairs = options.map((o): [string, string] => {
    const at = o.indexOf('=');
    if (at <= 0) throw new UsageError(`--converge ${value}: "${o}" is not KEY=VALUE`);
    return [o.slice(0, at), o.slice(at + 1)];
  });
  const allow = (keys: readonly string[]): void => {
    const bad = pairs.find(([k]) => !keys.includes(k));
    if (bad !== undefined) throw new UsageError(`--converge ${kind}: unknown option "${bad[0]}"${keys.length > 0 ? ` (${keys.join(', ')})` : ''}`);
  };
  const get = (key: string): string | undefined => pairs.find(([k]) => k === key)?.[1];
  switch (kind) {
    case 'keep-going':
      allow([]);
      return { kind: 'keep-going' };
    case 'switchover': {
      allow(['rounds', 'after']);
      const rounds = get('rounds');
      const after = get('after');
      const afterRounds = rounds === undefined ? undefined : parseCount(rounds, '--converge switchover: rounds');
      if (afterRounds === 0) throw new UsageError('--converge switchover: rounds must be at least 1');
      return {
        kind: 'switchover',
        ...(afterRounds !== undefined && { afterRounds }),
        ...(after !== undefined && { afterMs: parseDurationMs(after, '--converge switchover: after', 's') }),
      };
    }
    case 'step-downtime': {
      allow(['step', 'ceiling']);
      const step = get('step');
      const ceiling = get('ceiling');
      const stepMs = step === undefined ? DEFAULT_DOWNTIME_STEP_MS : parseDurationMs(step, '--converge step-downtime: step', 'ms');
      if (stepMs <= 0) throw new UsageError('--converge step-downtime: step must be more than 0');
      const ceilingMs = ceiling === undefined ? DEFAULT_DOWNTIME_CEILING_MS : parseDurationMs(ceiling, '--converge step-downtime: ceiling', 'ms');
      return { kind: 'step-downtime', stepMs, ceilingMs };
    }
    default:
      throw new UsageError(`--converge takes keep-going, switchover[,rounds=N][,after=DURATION] or step-downtime[,step=DURATION][,ceiling=DURATION] (got ${value})`);
  }
}

/** Parses `--stall-rounds`; undefined: core's default window. */
export function parseStallRounds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const rounds = parseCount(value, '--stall-rounds');
  if (rounds < 1) throw new UsageError('--stall-rounds must be at least 1');
  return rounds;
}
