/**
 * The one way both runs call a device's hook: call it, await it only when it returned a
 * promise (a synchronous hook costs no microtask), and shape its failure as a
 * `MigrationError` naming the phase, the entry and the hook (see
 * `docs/design/handler-lifecycle.md` §2, §5).
 */
import { StreamError } from '@savevm/stream';
import { MigrationError, type MigrationPhase, type SectionRef, detailOf } from '../errors.js';
import { reasonOf } from '../failure-reason.js';
import { isPromiseLike } from '../maybe-promise.js';
import type { SaveStateEntry } from '../registry/save-state-entry.js';
import { trace } from '../tracing/trace-points.js';

/** Where in the stream a hook failed (destination): the section being loaded and the byte offset. */
export interface HookFailurePlace {
  /** The section being loaded. */
  readonly section?: SectionRef;
  /** The byte offset. */
  readonly offset?: number;
}

/**
 * The error for a hook that threw: a `MigrationError` naming the phase, the entry and the
 * hook. A `MigrationError` the hook threw itself keeps its phase, reason and detail but
 * gains the entry and hook when it had none. The reason is `DEVICE_FAILED` unless the cause
 * says otherwise (`reasonOf`: a truncated stream, a version too new, …).
 */
export function hookFailure(phase: MigrationPhase, hook: string, entry: SaveStateEntry, cause: unknown, where: HookFailurePlace = {}): MigrationError {
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
 * Calls one hook of one entry: `invoke` runs it (`h.saveSetup.call(h, …)`). Returns the
 * hook's value as it is, or a promise of it when the hook returned one; a throw or a
 * rejection becomes {@link hookFailure}.
 * @param place where in the stream, asked only on failure (destination)
 */
export function callHook<T>(
  phase: MigrationPhase,
  hook: string,
  entry: SaveStateEntry,
  invoke: () => T | PromiseLike<T>,
  place?: () => HookFailurePlace,
): T | Promise<T> {
  let result: T | PromiseLike<T>;
  try {
    result = invoke();
  } catch (err) {
    throw hookFailure(phase, hook, entry, err, place?.());
  }
  return isPromiseLike(result) ? settleHook(result, phase, hook, entry, place) : result;
}

async function settleHook<T>(result: PromiseLike<T>, phase: MigrationPhase, hook: string, entry: SaveStateEntry, place: (() => HookFailurePlace) | undefined): Promise<T> {
  try {
    return await result;
  } catch (err) {
    throw hookFailure(phase, hook, entry, err, place?.());
  }
}

/** The cleanup hook of each run: `saveCleanup` on the source, `loadCleanup` on the destination. */
export interface CleanupHook {
  /** The hook's name, for failures. */
  readonly hook: 'saveCleanup' | 'loadCleanup';
  /** The phase its failures name. */
  readonly phase: 'save-cleanup' | 'load-cleanup';
  /** The trace point that marks the cleanup. */
  readonly tracePoint: 'savevm_state_cleanup' | 'loadvm_state_cleanup';
  /** Calls the entry's hook (nothing when it has none). */
  readonly invoke: (entry: SaveStateEntry) => void | PromiseLike<void>;
}

/**
 * A run's cleanup (QEMU `qemu_savevm_state_cleanup`, `qemu_loadvm_state_cleanup`): the hook
 * of every entry that has it, in list order, each awaited, none skipped because another
 * failed. Returns what failed, in order.
 */
export async function cleanUpEvery(entries: readonly SaveStateEntry[], cleanup: CleanupHook): Promise<MigrationError[]> {
  trace(cleanup.tracePoint, { entries: entries.length });
  const failures: MigrationError[] = [];
  for (const e of entries) {
    try {
      const r = cleanup.invoke(e);
      if (isPromiseLike(r)) await r;
    } catch (err) {
      failures.push(hookFailure(cleanup.phase, cleanup.hook, e, err));
    }
  }
  return failures;
}

/**
 * The errno QEMU would report for a stream error (the error's own `errno`: EIO for I/O
 * failures and truncation, EINVAL for malformed streams); undefined for other errors.
 */
export function streamErrno(err: unknown): string | undefined {
  return err instanceof StreamError ? err.errno : undefined;
}
