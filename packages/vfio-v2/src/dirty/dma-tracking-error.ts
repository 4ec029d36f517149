/**
 * The failure of a DMA dirty-tracking step: which device (or container), which mechanism,
 * which operation and the errno (docs/design/vfio-dirty-tracking.md §6). The RAM hook that
 * called the dirty source turns it into the migration's `MigrationError` (reason
 * `DEVICE_FAILED`, the hook's phase), whose detail carries this message.
 */
import { messageOf, type MigrationErrorReason } from '@savevm/core';
import { DMA_DIRTY_MECHANISM_NAMES, VfioSyscallError, type DmaDirtyMechanism } from '@savevm/vfio';

/** What a {@link VfioDmaTrackingError} is built from. */
export interface VfioDmaTrackingErrorInit {
  /** The device (or devices, or the container) the failing step was for. */
  readonly device: string;
  /** The mechanism in use. */
  readonly mechanism: DmaDirtyMechanism | 'none';
  /** What was being done, e.g. `start`, `sync of block pc.ram`, `unmap of block pc.ram`. */
  readonly operation: string;
  /** The original error (a `VfioSyscallError` from the ioctl, usually). */
  readonly cause?: unknown;
  /** Overrides the detail (default: the cause's message). */
  readonly detail?: string;
}

/** A DMA dirty-tracking step failed; names the device, the mechanism, the step and the errno. */
export class VfioDmaTrackingError extends Error {
  /** Why a migration that meets it fails: a device (or its kernel) failed. */
  readonly reason: MigrationErrorReason = 'DEVICE_FAILED';
  /** The device (or devices, or the container). */
  readonly device: string;
  /** The mechanism in use. */
  readonly mechanism: DmaDirtyMechanism | 'none';
  /** The step. */
  readonly operation: string;
  /** The errno name of the failing ioctl, if any. */
  readonly errno: string | undefined;
  /** The errno name again, where error chains look for it (`code`). */
  readonly code: string | undefined;

  /** @param init device, mechanism, step, cause */
  constructor(init: VfioDmaTrackingErrorInit) {
    const mechanism = init.mechanism === 'none' ? 'no DMA dirty tracking' : DMA_DIRTY_MECHANISM_NAMES[init.mechanism];
    const detail = init.detail ?? (init.cause === undefined ? 'failed' : messageOf(init.cause));
    super(`vfio device ${init.device}: DMA dirty tracking (${mechanism}): ${init.operation}: ${detail}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'VfioDmaTrackingError';
    this.device = init.device;
    this.mechanism = init.mechanism;
    this.operation = init.operation;
    this.errno = init.cause instanceof VfioSyscallError ? init.cause.errno : undefined;
    this.code = this.errno;
  }
}
