/**
 * Which {@link MigrationErrorReason} a thrown value stands for, so every `MigrationError`
 * carries the reason of what really went wrong (see `docs/writing-a-device-handler.md`,
 * "Failure reasons").
 */
import { StreamError } from '@savevm/stream';
import { MigrationError, MigrationErrorReason } from './errors.js';
import { VmStateLoadError, type VmStateLoadReason } from './vmstate/errors.js';

/** How deep a chain of `cause`s is followed. */
const MAX_CAUSE_DEPTH = 8;

/** A vmstate load reason's code; undefined: look at the error's cause. */
const VMSTATE_REASON: Readonly<Record<VmStateLoadReason, MigrationErrorReason | undefined>> = {
  VERSION_TOO_NEW: MigrationErrorReason.VERSION_TOO_NEW,
  VERSION_TOO_OLD: MigrationErrorReason.BAD_STREAM,
  UNKNOWN_SUBSECTION: MigrationErrorReason.BAD_STREAM,
  LENGTH_TOO_LARGE: MigrationErrorReason.BAD_STREAM,
  TRUNCATED: MigrationErrorReason.TRUNCATED,
  HOOK_FAILED: undefined,
  NO_STATE_OBJECT: MigrationErrorReason.DEVICE_FAILED,
};

const CODES: ReadonlySet<string> = new Set(Object.values(MigrationErrorReason));

/** Whether a value is one of {@link MigrationErrorReason}'s codes. */
export function isMigrationErrorReason(value: unknown): value is MigrationErrorReason {
  return typeof value === 'string' && CODES.has(value);
}

/** The code one link of a cause chain stands for; undefined when it says nothing. */
function reasonOfOne(err: unknown): MigrationErrorReason | undefined {
  if (err instanceof MigrationError) return err.reason;
  if (err instanceof VmStateLoadError) return VMSTATE_REASON[err.reason];
  if (err instanceof StreamError) {
    switch (err.code) {
      case 'TRUNCATED':
        return MigrationErrorReason.TRUNCATED;
      case 'IO':
        return undefined; // the channel's own error (a transfer timeout, a reset) says more
      default:
        return MigrationErrorReason.BAD_STREAM;
    }
  }
  if (typeof err === 'object' && err !== null) {
    const { reason } = err as { reason?: unknown };
    if (isMigrationErrorReason(reason)) return reason;
  }
  return undefined;
}

/**
 * The reason a thrown value stands for, following its `cause` chain to the first link
 * that says one:
 *
 * - a `MigrationError` (a `TransportError` too) → its `reason`;
 * - a `VmStateLoadError` → `VERSION_TOO_NEW`, `TRUNCATED`, `BAD_STREAM` (older than the
 *   minimum version, unknown subsection, length too large) or `DEVICE_FAILED` (no state
 *   object); a failed pre/post-load hook → what its own cause says;
 * - a `StreamError` → `TRUNCATED` for a truncation, `BAD_STREAM` for a grammar error; an
 *   I/O error → what the channel's error says, else `CONNECT_FAILED`;
 * - any other error whose `reason` property holds one of the codes → that code.
 *
 * @param err what was thrown
 * @param fallback the reason when nothing in the chain says one (a device hook: `DEVICE_FAILED`)
 */
export function reasonOf(err: unknown, fallback: MigrationErrorReason): MigrationErrorReason {
  let sawIo = false;
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < MAX_CAUSE_DEPTH; depth++) {
    const reason = reasonOfOne(e);
    if (reason !== undefined) return reason;
    if (e instanceof StreamError && e.code === 'IO') sawIo = true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return sawIo ? MigrationErrorReason.CONNECT_FAILED : fallback;
}
