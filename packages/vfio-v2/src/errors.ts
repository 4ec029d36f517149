/**
 * Typed errors of the VFIO v2 handlers. A failed hook is a {@link VfioV2MigrationError}: a
 * core `MigrationError` that also names the device and the operation, so a migration failure
 * always says which device, which phase and why (vfio-v1-legacy's `VfioV1Error` is built the
 * same way). A failed state change is a {@link VfioStateTransitionError} (device, from,
 * target, what recovery did), the `cause` of one (`docs/design/errors.md`).
 */
import { MigrationError, errnoNameOf, messageOf, reasonOf, type EntryRef, type MigrationErrorReason, type MigrationPhase } from '@savevm/core';
import { migStateName } from '@savevm/vfio';

/** What the recovery of a failed state change did (QEMU `vfio_migration_set_state`). */
export type TransitionOutcome =
  /** The SET failed and the device was put in the recover state. */
  | 'recovered'
  /** The SET (and the recover SET) failed, the device was reset and is taken as RUNNING. */
  | 'reset'
  /** The SET and the reset failed: the device state is unknown (QEMU aborts here). */
  | 'reset-failed'
  /** The SET succeeded but returned a new data_fd while one was open: closed, EBADF. */
  | 'out-of-sync';

/** What a {@link VfioStateTransitionError} is built from. */
export interface TransitionFailure {
  /** Device name. */
  readonly device: string;
  /** State before the SET. */
  readonly from: number;
  /** State asked for. */
  readonly target: number;
  /** Recover state. */
  readonly recover: number;
  /** What recovery did. */
  readonly outcome: TransitionOutcome;
  /** The state the device is taken to be in now. */
  readonly landedIn: number;
  /** The first error (the failed SET), or undefined for out-of-sync. */
  readonly cause?: unknown;
  /** The error of the reset, when it failed too. */
  readonly resetError?: unknown;
}


/** A SET MIG_DEVICE_STATE failed (or handed out an fd out of sync). */
export class VfioStateTransitionError extends Error {
  /** Device name. */
  readonly device: string;
  /** State before the SET. */
  readonly from: number;
  /** State asked for. */
  readonly target: number;
  /** Recover state that was tried. */
  readonly recover: number;
  /** What recovery did. */
  readonly outcome: TransitionOutcome;
  /** The state the device is taken to be in now. */
  readonly landedIn: number;
  /** errno name of the first failure (EBADF for out-of-sync). */
  readonly errno: string | undefined;
  /** The reset's own failure, if the reset failed too. */
  readonly resetError: unknown;

  /** @param failure what failed and what recovery did */
  constructor(failure: TransitionFailure) {
    const arc = `${migStateName(failure.from)}→${migStateName(failure.target)}`;
    const errno = failure.outcome === 'out-of-sync' ? 'EBADF' : errnoNameOf(failure.cause);
    const what =
      failure.outcome === 'out-of-sync'
        ? 'data_fd out of sync (a new data_fd while one is open; closed it)'
        : `failed${errno ? ` with ${errno}` : ''}: ${messageOf(failure.cause)}`;
    const after =
      failure.outcome === 'recovered'
        ? `; device put in recover state ${migStateName(failure.recover)}`
        : failure.outcome === 'reset'
          ? '; device reset, now RUNNING'
          : failure.outcome === 'reset-failed'
            ? `; reset failed too (${messageOf(failure.resetError)}): device state unknown`
            : '';
    super(`${failure.device}: set state ${arc} ${what}${after}`, failure.cause === undefined ? undefined : { cause: failure.cause });
    this.name = 'VfioStateTransitionError';
    this.device = failure.device;
    this.from = failure.from;
    this.target = failure.target;
    this.recover = failure.recover;
    this.outcome = failure.outcome;
    this.landedIn = failure.landedIn;
    this.errno = errno;
    this.resetError = failure.resetError;
  }
}

/** What a {@link VfioV2MigrationError} is built from. */
export interface VfioV2ErrorInit {
  /** Device name. */
  readonly device: string;
  /** Migration phase (the hook's). */
  readonly phase: MigrationPhase;
  /** What was being done, e.g. `STOP→STOP_COPY`, `read data_fd`, `RESUMING→STOP (validate)`. */
  readonly operation: string;
  /** The save-state entry, when the hook knows it. */
  readonly entry?: EntryRef | undefined;
  /** The original error. */
  readonly cause?: unknown;
  /** Overrides the errno name (default: the cause's). */
  readonly errno?: string | undefined;
  /** Overrides the detail (default: the cause's message). */
  readonly detail?: string | undefined;
  /** Overrides the reason (default: what the cause says, else `DEVICE_FAILED`). */
  readonly reason?: MigrationErrorReason | undefined;
}

/** A VFIO v2 hook failed: the device, the phase, the operation and the cause. */
export class VfioV2MigrationError extends MigrationError {
  /** Device name. */
  readonly device: string;
  /** What was being done. */
  readonly operation: string;

  /** @param init device, phase, operation, cause */
  constructor(init: VfioV2ErrorInit) {
    const causeText = init.cause === undefined ? '' : messageOf(init.cause);
    const detail = init.detail ?? `vfio device ${init.device}: ${init.operation} failed${causeText ? `: ${causeText}` : ''}`;
    super({
      phase: init.phase,
      reason: init.reason ?? reasonOf(init.cause, 'DEVICE_FAILED'),
      detail,
      entry: init.entry,
      cause: init.cause,
      errno: init.errno ?? errnoNameOf(init.cause),
    });
    this.device = init.device;
    this.operation = init.operation;
  }
}
