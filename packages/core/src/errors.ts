/**
 * The one error type of a migration. Like cloud-hypervisor's `MigratableError`, it says
 * where it happened: the phase, the entry (idstr, instance id) whose hook failed, the
 * section and byte offset on the load side, the original cause and its errno name. Every
 * error the migration API throws is one, or a subclass; the hierarchy, and the lower
 * libraries' errors that arrive as a `cause`, are in `docs/design/errors.md`.
 */
import { constants as osConstants } from 'node:os';
import { StreamError, escapeWireString } from '@savevm/stream';

/**
 * Where a migration failed. Names follow the driver's order of events; `register`,
 * `describe` and `run-state` name the calls made outside a migration.
 */
export type MigrationPhase =
  /** Registering an entry or a RAM block, or attaching a device (no provider accepts it, its region is missing), before any migration. */
  | 'register'
  /** Defining a vmstate description or reading QEMU's `-dump-vmstate`, before any migration. */
  | 'describe'
  /** Changing the VM's run state through a device's run-state change handler. */
  | 'run-state'
  /** `migrate` was called while another migration was running. */
  | 'busy'
  /** A registered migration blocker refused the migration (before setup). */
  | 'blocked'
  /** Opening the transport (connecting, the TLS handshake), before any device state moved. */
  | 'connect'
  /** A multifd channel: its initial packet, a packet on it, a barrier, its end (docs/design/multifd.md). */
  | 'multifd'
  /** `savePrepare` (QEMU `save_prepare`) vetoed the migration. */
  | 'save-prepare'
  /** A migration-status notifier refused the PRECOPY_SETUP event. */
  | 'setup-notify'
  /** Writing the stream header or configuration. */
  | 'header'
  /** `saveSetup` (QEMU `save_setup`), inside a SECTION_START. */
  | 'save-setup'
  /** `statePendingEstimate` (QEMU `state_pending_estimate`). */
  | 'pending-estimate'
  /** `statePendingExact` (QEMU `state_pending_exact`). */
  | 'pending-exact'
  /** `saveLiveIterate` (QEMU `save_live_iterate`), inside a SECTION_PART. */
  | 'iterate'
  /** The iteration cap was reached and the policy says fail. */
  | 'iteration-cap'
  /** Stopping the VM for switchover (run-state change handlers). */
  | 'switchover'
  /** `saveLiveCompletePrecopy` (QEMU `save_complete`), inside a SECTION_END. */
  | 'complete-precopy'
  /** `saveState` (QEMU `save_state`), inside a SECTION_FULL. */
  | 'save-state'
  /** Writing EOF and the vmdesc, or flushing the stream. */
  | 'finish'
  /** Waiting for the destination's verdict (SHUT) on the return path, after the last byte. */
  | 'destination-verdict'
  /** `saveCleanup` (QEMU `save_cleanup`). */
  | 'save-cleanup'
  /** Restarting the VM after a failed or cancelled migration. */
  | 'restart'
  /** The migration was cancelled. */
  | 'cancel'
  /** Reading the stream header or configuration section. */
  | 'load-header'
  /** `loadSetup` (QEMU `load_setup`). */
  | 'load-setup'
  /** Reading a record or matching a section to an entry. */
  | 'load-dispatch'
  /** `loadState` (QEMU `load_state`). */
  | 'load-state'
  /** A section footer was missing or named another section. */
  | 'load-footer'
  /** `loadCleanup` (QEMU `load_cleanup`). */
  | 'load-cleanup'
  /** Starting the VM after a successful load (autostart). */
  | 'load-start-vm'
  /** The return path: OPEN_RETURN_PATH on a transport with no way back, or PING before it. */
  | 'return-path'
  /** The embedder's check of what was loaded (`verifyLoaded`), before the VM starts. */
  | 'load-verify'
  /** Transport: the URI could not be parsed (a `TransportError` of `@savevm/session`). */
  | 'uri'
  /** Transport: the options do not fit the URI (e.g. TLS on a file). */
  | 'options'
  /** Transport: binding or listening (destination). */
  | 'listen'
  /** Transport: the TLS handshake or the peer's certificate. */
  | 'tls'
  /** Transport: starting or running an `exec:` command. */
  | 'exec'
  /** Transport: moving the stream's bytes (no progress within the transfer timeout). */
  | 'transfer';

/**
 * Why a migration failed, as one code from a fixed set (see `docs/embedding-in-a-vmm.md`,
 * "Errors and reasons"). Every {@link MigrationError} carries one.
 */
export const MigrationErrorReason = {
  /** The stream carries a section version newer than the local device knows. */
  VERSION_TOO_NEW: 'VERSION_TOO_NEW',
  /** The stream names a section (idstr, instance) this side has no device for. */
  UNKNOWN_SECTION: 'UNKNOWN_SECTION',
  /** The bytes break QEMU's stream grammar or a device's own format. */
  BAD_STREAM: 'BAD_STREAM',
  /** The stream ended before it was complete. */
  TRUNCATED: 'TRUNCATED',
  /** The destination refused the state, or could not say that it loaded it. */
  DESTINATION_FAILED: 'DESTINATION_FAILED',
  /** A device's own hook (or the kernel behind it) failed. */
  DEVICE_FAILED: 'DEVICE_FAILED',
  /** The migration was cancelled. */
  CANCELLED: 'CANCELLED',
  /** Something did not happen in time (a verdict, a transfer, the iteration cap). */
  TIMEOUT: 'TIMEOUT',
  /** The TLS handshake failed or a certificate was refused. */
  TLS_REFUSED: 'TLS_REFUSED',
  /** The connection could not be made, or it broke. */
  CONNECT_FAILED: 'CONNECT_FAILED',
  /** A migration blocker, or another migration in progress, refused it. */
  BLOCKED: 'BLOCKED',
  /** The caller's arguments or parameters are wrong. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** Anything else (the VM could not be stopped or started, a notifier refused). */
  INTERNAL: 'INTERNAL',
} as const;

/** One of {@link MigrationErrorReason}'s codes. */
export type MigrationErrorReason = (typeof MigrationErrorReason)[keyof typeof MigrationErrorReason];

/** The save-state entry an error is about. */
export interface EntryRef {
  /** The entry's idstr. */
  readonly idstr: string;
  /** The entry's instance id. */
  readonly instanceId: number;
}

/** The stream section an error is about (load side). */
export interface SectionRef {
  /** Record kind: start, part, end or full. */
  readonly type: 'start' | 'part' | 'end' | 'full';
  /** Section id as found in the stream. */
  readonly sectionId: number;
  /** Byte offset of the section's header in the stream. */
  readonly offset: number;
}

/** What a {@link MigrationError} is built from. */
export interface MigrationErrorInit {
  /** Where it happened. */
  phase: MigrationPhase;
  /** Why, as one code (`reasonOf` derives it from a cause). */
  reason: MigrationErrorReason;
  /** What happened, in words. */
  detail: string;
  /** The entry whose hook failed or whose section was involved. */
  entry?: EntryRef | undefined;
  /** The hook that failed, by its TypeScript name (e.g. `saveLiveIterate`). */
  hook?: string | undefined;
  /** The section involved (load side). */
  section?: SectionRef | undefined;
  /** Byte offset in the stream where the problem was found. */
  offset?: number | undefined;
  /** The original error. */
  cause?: unknown;
  /** errno name (`EINVAL`, `EIO`, …); taken from the cause when not given. */
  errno?: string | undefined;
  /**
   * The whole message, for an error whose own words say where it happened (a registration,
   * a transport's URI); default: "migration failed in <phase>, <entry>…: <detail>".
   */
  message?: string | undefined;
}

const ERRNO_NAME = /^E[A-Z0-9]+$/;

/** errno numbers to names, from Node's table of this platform's values. */
const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));

/**
 * The errno name an error carries, if any: its `errno` when it is a name like `EINVAL` (every
 * error of savevm: a `MigrationError`, a `StreamError`, a `VfioError`; see
 * `docs/design/errors.md`), a positive numeric `errno` (named from the platform's table), or
 * a Node system error's `code`. The one place every package turns a cause into an errno name.
 */
export function errnoNameOf(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  const { errno, code } = cause as { errno?: unknown; code?: unknown };
  if (typeof errno === 'string' && ERRNO_NAME.test(errno)) return errno;
  if (typeof errno === 'number' && errno > 0) return ERRNO_NAMES.get(errno) ?? `E${errno}`;
  if (typeof code === 'string' && ERRNO_NAME.test(code)) return code;
  return undefined;
}

/** The message: where, then the detail; the idstr and the detail may hold wire strings, so both are escaped (`docs/design/hostile-input.md`). */
function describe(init: MigrationErrorInit): string {
  const where: string[] = [init.phase];
  if (init.entry) where.push(`entry "${escapeWireString(init.entry.idstr)}" instance ${init.entry.instanceId}`);
  if (init.hook) where.push(`hook ${init.hook}`);
  if (init.section) where.push(`section ${init.section.sectionId} (${init.section.type})`);
  if (init.offset !== undefined) where.push(`byte offset ${init.offset}`);
  return `migration failed in ${where.join(', ')}: ${escapeWireString(init.detail)}`;
}

/**
 * A migration failure. `reason` says why (one code), `phase` where, `entry` which device,
 * `hook` which callback, `section`/`offset` where in the stream (load side), `cause` the
 * original error and `errno` its errno name when there is one.
 */
export class MigrationError extends Error {
  /** Where it happened. */
  readonly phase: MigrationPhase;
  /** Why, as one code of {@link MigrationErrorReason}. */
  readonly reason: MigrationErrorReason;
  /** The entry involved, if any. */
  readonly entry: EntryRef | undefined;
  /** The failing hook's name, if any. */
  readonly hook: string | undefined;
  /** The stream section involved, if any (load side). */
  readonly section: SectionRef | undefined;
  /** Byte offset in the stream, if known. */
  readonly offset: number | undefined;
  /** errno name, if there is one. */
  readonly errno: string | undefined;
  /** The bare description, without the location prefix (wire strings in it escaped). */
  readonly detail: string;
  /**
   * Later failures on the way out (restarting the VM, cleanup hooks, notifiers): they do
   * not replace this error but are kept here.
   */
  readonly suppressed: unknown[] = [];

  /** @param init what happened and where */
  constructor(init: MigrationErrorInit) {
    super(init.message ?? describe(init), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.phase = init.phase;
    this.reason = init.reason;
    this.entry = init.entry;
    this.hook = init.hook;
    this.section = init.section;
    this.offset = init.offset;
    this.errno = init.errno ?? errnoNameOf(init.cause);
    this.detail = escapeWireString(init.detail);
  }
}

/** The migration was cancelled (`cancel()`); `phase` is where the driver noticed it. */
export class MigrationCancelledError extends MigrationError {
  /** @param during the phase the driver was in when it saw the cancel */
  constructor(during: MigrationPhase) {
    super({ phase: 'cancel', reason: MigrationErrorReason.CANCELLED, detail: `cancelled during ${during}`, errno: 'ECANCELED' });
    this.cancelledDuring = during;
  }

  /** The phase the driver was in when it saw the cancel. */
  readonly cancelledDuring: MigrationPhase;
}

/** Text of any thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Text of any thrown value for a {@link MigrationError}'s `detail`: a stream error's
 * description without the byte offset its message starts with (the `MigrationError` states
 * the offset once, in its location), any other value's message.
 */
export function detailOf(err: unknown): string {
  return err instanceof StreamError ? err.detail : messageOf(err);
}
