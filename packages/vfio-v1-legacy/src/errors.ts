/**
 * The one error type of this package, built as vfio-v2's: a core `MigrationError` that also
 * names the device. It says where it happened (the device, the v1 phase and the migration
 * phase it stands for), what went wrong (a stable `code`), why (the original `cause`), the
 * reason code and the errno name (`docs/design/errors.md`).
 */
import { MigrationError, MigrationErrorReason, errnoNameOf, reasonOf, type MigrationPhase } from '@savevm/core';

/** Where in the v1 protocol a failure happened. */
export type V1Phase =
  /** Looking for the migration region (provider probe or create). */
  | 'discovery'
  /** `saveSetup`: entering pre-copy (or stop-and-copy when the VM is paused). */
  | 'save-setup'
  /** Reading `pending_bytes` for the driver's pending hooks. */
  | 'pending'
  /** `saveLiveIterate`: one pre-copy chunk. */
  | 'iterate'
  /** `saveLiveCompletePrecopy`: stop-and-copy until nothing is pending. */
  | 'complete'
  /** `saveCleanup`: unmapping the data section. */
  | 'save-cleanup'
  /** `loadSetup`: entering RESUMING. */
  | 'load-setup'
  /** `loadState`: parsing a section body and writing its chunks. */
  | 'load'
  /** `loadCleanup`: putting a device whose load failed back into a safe state. */
  | 'load-cleanup'
  /** The VM change-state handler. */
  | 'run-state'
  /** The migration-status hook (back to RUNNING after a failure or cancel). */
  | 'migration-status';

/** What went wrong, as a stable code tests and callers can switch on. */
export type V1ErrorCode =
  /** The device has no region with the v1 migration type/subtype. */
  | 'region-missing'
  /** The migration region exists but has zero size (or is too small for its header). */
  | 'region-too-small'
  /** A register (pread/pwrite of a `vfio_device_migration_info` field) failed. */
  | 'register-io'
  /** A data-section pread/pwrite failed or was short. */
  | 'data-io'
  /** The requested `device_state` is not a valid bit combination (refused before writing). */
  | 'invalid-state'
  /** The device refused the new `device_state` but is still usable. */
  | 'state-refused'
  /** The device is (or went) into the ERROR state or became unreadable; it was reset. */
  | 'device-error'
  /** The device reported a value that cannot be right (offset outside the region, size larger than the data section, …). */
  | 'insane-register'
  /** `pending_bytes` grew, or the data never ended, while the device was stopped. */
  | 'pending-not-draining'
  /** The stream held something a v1 section cannot hold. */
  | 'bad-stream';

/** What a {@link VfioV1Error} is built from. */
export interface VfioV1ErrorInit {
  /** The device's name. */
  readonly device: string;
  /** Where it happened. */
  readonly phase: V1Phase;
  /** What went wrong. */
  readonly code: V1ErrorCode;
  /** What happened, in words. */
  readonly detail: string;
  /** The original error, if any. */
  readonly cause?: unknown;
}

const DEFAULT_ERRNO: Readonly<Record<V1ErrorCode, string>> = {
  'region-missing': 'ENOTTY',
  'region-too-small': 'EINVAL',
  'register-io': 'EIO',
  'data-io': 'EIO',
  'invalid-state': 'EINVAL',
  'state-refused': 'EINVAL',
  'device-error': 'EIO',
  'insane-register': 'EINVAL',
  'pending-not-draining': 'EIO',
  'bad-stream': 'EINVAL',
};

/**
 * The migration phase each v1 phase stands for. v1 reads `pending_bytes` the same way for
 * both pending hooks; the driver asks the estimate first.
 */
const MIGRATION_PHASE: Readonly<Record<V1Phase, MigrationPhase>> = {
  discovery: 'register',
  'save-setup': 'save-setup',
  pending: 'pending-estimate',
  iterate: 'iterate',
  complete: 'complete-precopy',
  'save-cleanup': 'save-cleanup',
  'load-setup': 'load-setup',
  load: 'load-state',
  'load-cleanup': 'load-cleanup',
  'run-state': 'run-state',
  'migration-status': 'restart',
};

/**
 * A v1 migration failure: `device` and `v1Phase` say where, `code` what, `cause` why. A
 * `MigrationError` (as vfio-v2's `VfioV2MigrationError`): its `phase` is the migration phase
 * `v1Phase` stands for; its `errno` (a name such as `EIO`) is the cause's when it has one,
 * else the usual one for `code`; its `reason` is `BAD_STREAM` for `bad-stream`, else what the
 * cause says, else `DEVICE_FAILED`. Its detail reads
 * "vfio-v1 <device>: <v1 phase>: <detail>: <the cause's message>".
 */
export class VfioV1Error extends MigrationError {
  /** The device's name. */
  readonly device: string;
  /** Where in the v1 protocol it happened. */
  readonly v1Phase: V1Phase;
  /** What went wrong. */
  readonly code: V1ErrorCode;
  /** errno name of the cause, or the usual one for `code`. */
  declare readonly errno: string;

  /** @param init what happened and where */
  constructor(init: VfioV1ErrorInit) {
    const because = init.cause instanceof Error ? `: ${init.cause.message}` : '';
    const text = `vfio-v1 ${init.device}: ${init.phase}: ${init.detail}${because}`;
    super({
      phase: MIGRATION_PHASE[init.phase],
      reason: init.code === 'bad-stream' ? MigrationErrorReason.BAD_STREAM : reasonOf(init.cause, MigrationErrorReason.DEVICE_FAILED),
      detail: text,
      cause: init.cause,
      errno: errnoNameOf(init.cause) ?? DEFAULT_ERRNO[init.code],
    });
    this.device = init.device;
    this.v1Phase = init.phase;
    this.code = init.code;
  }
}
