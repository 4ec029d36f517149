/** Small helpers the drivers share to call hooks and shape their failures. */
import { StreamError } from '@savevm/stream';
import { MigrationError, type MigrationPhase, type SectionRef, detailOf } from '../errors.js';
import { reasonOf } from '../failure-reason.js';
import type { SaveStateEntry } from '../registry/save-state-entry.js';


/**
 * The error for a hook that threw: a `MigrationError` naming the phase, the entry and the
 * hook. A `MigrationError` the hook threw itself keeps its phase, reason and detail but
 * gains the entry and hook when it had none. The reason is `DEVICE_FAILED` unless the cause
 * says otherwise (`reasonOf`: a truncated stream, a version too new, …).
 */
export function hookFailure(
  phase: MigrationPhase,
  hook: string,
  entry: SaveStateEntry,
  cause: unknown,
  where: { section?: SectionRef; offset?: number } = {},
): MigrationError {
  const ref = { idstr: entry.idstr, instanceId: entry.instanceId };
  if (cause instanceof MigrationError && cause.entry) return cause;
  const offset = cause instanceof StreamError ? cause.offset : where.offset;
  return new MigrationError({
    phase: cause instanceof MigrationError ? cause.phase : phase,
    reason: reasonOf(cause, 'DEVICE_FAILED'),
    detail: cause instanceof MigrationError ? cause.detail : `${hook} failed: ${detailOf(cause)}`,
    entry: ref,
    hook,
    section: where.section,
    offset,
    cause,
    errno: cause instanceof MigrationError ? cause.errno : streamErrno(cause),
  });
}

/**
 * The errno QEMU would report for a stream error: EIO for I/O failures and truncation
 * (reading past the end), EINVAL for malformed streams; undefined for other errors.
 */
export function streamErrno(err: unknown): string | undefined {
  if (!(err instanceof StreamError)) return undefined;
  if (err.code === 'IO') return (err as { errno?: string }).errno ?? 'EIO';
  return err.code === 'TRUNCATED' ? 'EIO' : 'EINVAL';
}

/** Waits for the next turn of the event loop (so `cancel()` and I/O can run). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
