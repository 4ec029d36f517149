/**
 * Migration parameters (QMP `migrate-set-parameters`) with QEMU's defaults, plus the
 * iteration cap this project adds.
 */

import { DEFAULT_VERDICT_TIMEOUT_MS, type SourceReturnPath } from './return-path.js';
import { DEFAULT_STREAM_COMPAT, isStreamCompat, type StreamCompat } from './stream-compat.js';

/** QEMU's default `downtime-limit`: 300 ms. */
export const DEFAULT_DOWNTIME_LIMIT_MS = 300;
/** QEMU's largest `downtime-limit`: 2000 s. */
export const MAX_DOWNTIME_LIMIT_MS = 2_000_000;
/** QEMU's default `max-bandwidth` (MAX_THROTTLE): 128 MiB/s. */
export const DEFAULT_MAX_BANDWIDTH = 128 * 1024 * 1024;

/** What to do when the live loop reaches the iteration cap without converging. */
export type IterationCapPolicy =
  /** Stop the VM and send the rest anyway (downtime may exceed the limit). */
  | 'switchover'
  /** Fail the migration (phase `iteration-cap`); the VM keeps running. */
  | 'fail';

/**
 * What the live loop does once the pending bytes stopped shrinking for
 * `stallWindowRounds` rounds (see `docs/design/convergence.md`). In every case the stall
 * is reported in `MigrationInfo.convergence` and once in `warnings`.
 */
export type ConvergencePolicy =
  /** Go on iterating, as QEMU does (the default): the downtime limit is never exceeded. */
  | {
      /** `keep-going`. */
      readonly kind: 'keep-going';
    }
  /**
   * Stop the VM and send the rest anyway once `afterRounds` rounds (default: the window)
   * or `afterMs` ms (default: no limit) passed without progress, whichever comes first;
   * the downtime may then exceed the limit.
   */
  | {
      /** `switchover`. */
      readonly kind: 'switchover';
      /** Rounds without progress before switching over (default: the stall window). */
      readonly afterRounds?: number;
      /** Milliseconds without progress before switching over (default: no limit). */
      readonly afterMs?: number;
    }
  /**
   * Raise the downtime limit by `stepMs` each time a window of rounds passes without
   * progress, up to `ceilingMs` (as KubeVirt proposes); at the ceiling, keep going.
   */
  | {
      /** `step-downtime`. */
      readonly kind: 'step-downtime';
      /** How much each stalled window adds to the downtime limit, ms. */
      readonly stepMs: number;
      /** The highest downtime limit it steps to, ms. */
      readonly ceilingMs: number;
    };

/** The default window: 10 decision rounds in a row without the pending bytes shrinking. */
export const DEFAULT_STALL_WINDOW_ROUNDS = 10;

/** The default convergence policy: keep going (QEMU's behaviour), reported as stalled. */
export const DEFAULT_CONVERGENCE_POLICY: ConvergencePolicy = Object.freeze({ kind: 'keep-going' });

/** The parameters a migration runs with. */
export interface MigrationParameters {
  /** Longest acceptable downtime in ms (QEMU `downtime-limit`). */
  readonly downtimeLimitMs: number;
  /** Bandwidth limit in bytes per second; `Infinity` or 0 for unlimited (QEMU `max-bandwidth`). */
  readonly maxBandwidth: number;
  /**
   * Bandwidth to assume for the switchover decision, bytes per second, instead of the
   * measured one (QEMU `avail-switchover-bandwidth`; 0 = use the measured bandwidth).
   */
  readonly availSwitchoverBandwidth: number;
  /** Most rounds of `saveLiveIterate` before the policy decides (`Infinity`: no cap, as QEMU). */
  readonly maxIterations: number;
  /** What happens at the cap. */
  readonly iterationCapPolicy: IterationCapPolicy;
  /** Rounds in a row without the pending bytes shrinking that make a migration *stalled* (≥ 1). */
  readonly stallWindowRounds: number;
  /** What the live loop does once stalled (default: keep going). */
  readonly convergencePolicy: ConvergencePolicy;
  /**
   * Machine type written in the configuration section (QEMU `send-configuration`);
   * `undefined` writes no configuration section.
   */
  readonly machine: string | undefined;
  /** Write the VMDESCRIPTION JSON after EOF (off = QEMU's `suppress-vmdesc`). */
  readonly sendVmdesc: boolean;
  /**
   * Wait for the destination's switchover ACK before stopping a running VM (QEMU
   * capability `switchover-ack`): the gate is asked every round.
   */
  readonly switchoverAck: SwitchoverAckGate | undefined;
  /**
   * QEMU's return path (capability `return-path`): when set, the source sends
   * OPEN_RETURN_PATH and PING after the configuration section, fails early when the path
   * breaks, and completes only once the destination's SHUT says it loaded the state.
   */
  readonly returnPath: SourceReturnPath | undefined;
  /** Longest wait for the destination's SHUT after the last byte, in ms. */
  readonly verdictTimeoutMs: number;
  /**
   * Which QEMU's stream to write (default `DEFAULT_STREAM_COMPAT`, `qemu-7.2`: QEMU 7.2
   * and 10.0 both load it): whether SWITCHOVER_START precedes the END sections, whether the
   * vmdesc describes the configuration, how a compat-aware globalstate is laid out.
   */
  readonly streamCompat: StreamCompat;
}

/** Tells the source whether the destination acknowledged switchover (QEMU `switchover_acked`). */
export interface SwitchoverAckGate {
  /** True once the destination sent its ACK. */
  isAcknowledged(): boolean;
}

/** The defaults: QEMU's limits, no iteration cap, machine type `none`, vmdesc on, a stream QEMU 7.2 accepts. */
export const DEFAULT_MIGRATION_PARAMETERS: MigrationParameters = Object.freeze({
  downtimeLimitMs: DEFAULT_DOWNTIME_LIMIT_MS,
  maxBandwidth: DEFAULT_MAX_BANDWIDTH,
  availSwitchoverBandwidth: 0,
  maxIterations: Infinity,
  iterationCapPolicy: 'switchover',
  stallWindowRounds: DEFAULT_STALL_WINDOW_ROUNDS,
  convergencePolicy: DEFAULT_CONVERGENCE_POLICY,
  machine: 'none',
  sendVmdesc: true,
  switchoverAck: undefined,
  returnPath: undefined,
  verdictTimeoutMs: DEFAULT_VERDICT_TIMEOUT_MS,
  streamCompat: DEFAULT_STREAM_COMPAT,
});

/** Fills in defaults and checks ranges. */
export function resolveParameters(overrides: Partial<MigrationParameters> = {}): MigrationParameters {
  const p: MigrationParameters = { ...DEFAULT_MIGRATION_PARAMETERS, ...overrides };
  if (!(p.downtimeLimitMs >= 0 && p.downtimeLimitMs <= MAX_DOWNTIME_LIMIT_MS)) {
    throw new RangeError(`downtimeLimitMs ${p.downtimeLimitMs} is outside 0..${MAX_DOWNTIME_LIMIT_MS}`);
  }
  if (!(p.maxBandwidth >= 0)) throw new RangeError(`maxBandwidth ${p.maxBandwidth} must be ≥ 0`);
  if (!(p.availSwitchoverBandwidth >= 0)) throw new RangeError(`availSwitchoverBandwidth must be ≥ 0`);
  if (!(p.verdictTimeoutMs >= 0)) throw new RangeError(`verdictTimeoutMs ${p.verdictTimeoutMs} must be ≥ 0`);
  if (!(p.maxIterations >= 0)) throw new RangeError(`maxIterations ${p.maxIterations} must be ≥ 0`);
  checkConvergence(p.stallWindowRounds, p.convergencePolicy, p.downtimeLimitMs);
  if (!isStreamCompat(p.streamCompat)) throw new RangeError(`streamCompat ${String(p.streamCompat)} is not qemu-7.2 or qemu-10.0`);
  return p;
}

/** Checks the stall window and the convergence policy's numbers. */
function checkConvergence(windowRounds: number, policy: ConvergencePolicy, downtimeLimitMs: number): void {
  if (!(windowRounds >= 1)) throw new RangeError(`stallWindowRounds ${windowRounds} must be ≥ 1`);
  switch (policy.kind) {
    case 'keep-going':
      return;
    case 'switchover':
      if (policy.afterRounds !== undefined && !(policy.afterRounds >= 1)) throw new RangeError(`convergencePolicy.afterRounds ${policy.afterRounds} must be ≥ 1`);
      if (policy.afterMs !== undefined && !(policy.afterMs >= 0)) throw new RangeError(`convergencePolicy.afterMs ${policy.afterMs} must be ≥ 0`);
      return;
    case 'step-downtime':
      if (!(policy.stepMs > 0)) throw new RangeError(`convergencePolicy.stepMs ${policy.stepMs} must be > 0`);
      if (!(policy.ceilingMs >= downtimeLimitMs && policy.ceilingMs <= MAX_DOWNTIME_LIMIT_MS)) {
        throw new RangeError(`convergencePolicy.ceilingMs ${policy.ceilingMs} must be between the downtime limit (${downtimeLimitMs}) and ${MAX_DOWNTIME_LIMIT_MS}`);
      }
      return;
    default:
      throw new RangeError(`convergencePolicy ${JSON.stringify(policy)} is not keep-going, switchover or step-downtime`);
  }
}
