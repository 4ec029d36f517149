/**
 * The typed failure of VFIO device state on the multifd channels (docs/design/multifd.md §4):
 * which device, which buffer index, and which rule refused it, in QEMU's words where QEMU
 * has words.
 */
import type { EntryRef, MigrationErrorReason, MigrationPhase } from '@savevm/core';
import { VfioV2MigrationError } from '../errors.js';

/** Which rule failed. */
export type VfioMultifdRefusal =
  /** A device-state packet for a device that does not use the channels. */
  | 'not-multifd'
  /** `multifdTransfer: 'on'` where the migration sends no device state on channels. */
  | 'unsupported'
  /** Fewer than 12 bytes. */
  | 'too-short'
  /** Packet version ≠ 0. */
  | 'unknown-version'
  /** Index UINT32_MAX. */
  | 'invalid-index'
  /** A buffer with this index is queued already (a duplicate). */
  | 'already-filled'
  /** The load is past this index already (QEMU asserts here). */
  | 'already-loaded'
  /** A second config-state packet, or a data buffer after the config state's index. */
  | 'past-config-state'
  /** Queuing the buffer would exceed `maxQueuedBuffersSize`. */
  | 'queue-full'
  /** A DEV_CONFIG_STATE (or stop-copy data) on the main stream while the device loads from the channels. */
  | 'main-stream'
  /** The config-state packet does not start with DEV_CONFIG_STATE, or lacks END_OF_STATE. */
  | 'bad-config-state'
  /** A buffer never arrived (the channels closed or the load failed first). */
  | 'missing-buffer'
  /** Writing a buffer into the data_fd failed. */
  | 'write-failed'
  /** The load ended before the device's buffers were loaded (no SWITCHOVER_START). */
  | 'not-loaded'
  /** The save was told to stop (the migration failed or was cancelled). */
  | 'cancelled';

/** What a {@link VfioMultifdError} is built from. */
export interface VfioMultifdErrorInit {
  /** Device name. */
  readonly device: string;
  /** The phase (`multifd` for the channels and the load work). */
  readonly phase: MigrationPhase;
  /** The rule that failed. */
  readonly refusal: VfioMultifdRefusal;
  /** What happened, starting with the device name as QEMU's messages do. */
  readonly detail: string;
  /** The buffer index, when one is concerned. */
  readonly index?: number | undefined;
  /** The save-state entry. */
  readonly entry?: EntryRef | undefined;
  /** Why (default BAD_STREAM). */
  readonly reason?: MigrationErrorReason | undefined;
  /** errno name (default EINVAL). */
  readonly errno?: string | undefined;
  /** The original error. */
  readonly cause?: unknown;
}

/** A VFIO device-state buffer refused, missing or failing to load; or the channel save failing. */
export class VfioMultifdError extends VfioV2MigrationError {
  /** The rule that failed. */
  readonly refusal: VfioMultifdRefusal;
  /** The buffer index concerned, if any. */
  readonly index: number | undefined;

  /** @param init device, rule, index and words */
  constructor(init: VfioMultifdErrorInit) {
    super({
      device: init.device,
      phase: init.phase,
      operation: `multifd device state (${init.refusal})`,
      entry: init.entry,
      cause: init.cause,
      errno: init.errno ?? 'EINVAL',
      detail: init.detail,
      reason: init.reason ?? 'BAD_STREAM',
    });
    this.refusal = init.refusal;
    this.index = init.index;
  }
}
