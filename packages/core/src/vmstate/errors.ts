/**
 * Typed errors of the declarative state route. A description that cannot be right fails
 * when it is defined; a value that does not fit its field fails the save; a body that
 * does not match the description fails the load, naming the description, the field and
 * the versions involved.
 */
import { StreamError, type StreamErrorCode } from '@savevm/stream';
import { MigrationError, MigrationErrorReason } from '../errors.js';

/**
 * A description that is wrong in itself (bad version, unknown length field, …): a
 * `MigrationError` of phase `describe`, reason `INVALID_ARGUMENT`, errno `EINVAL`
 * (`docs/design/errors.md`).
 */
export class VmStateDefinitionError extends MigrationError {
  /**
   * @param description the description's name
   * @param detail what is wrong
   */
  constructor(
    readonly description: string,
    detail: string,
  ) {
    const text = `vmstate ${description}: ${detail}`;
    super({ phase: 'describe', reason: MigrationErrorReason.INVALID_ARGUMENT, detail: text, errno: 'EINVAL', message: text });
  }
}

/**
 * A value in the device state that its field cannot carry, or a failing pre-save hook. Thrown
 * inside a save hook, it is the `cause` of the `MigrationError` the driver builds (reason
 * `DEVICE_FAILED`; `docs/design/errors.md`).
 */
export class VmStateSaveError extends Error {
  /**
   * @param description the description's name
   * @param field the field's name (undefined for hook failures)
   * @param detail what is wrong
   */
  constructor(
    readonly description: string,
    readonly field: string | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`vmstate ${description}${field === undefined ? '' : `.${field}`}: ${detail}`, options);
    this.name = new.target.name;
  }
}

/** Why a body was refused, as a stable machine-readable reason. */
export type VmStateLoadReason =
  /** The stream's version is newer than the local description's. */
  | 'VERSION_TOO_NEW'
  /** The stream's version is older than the local description's minimum. */
  | 'VERSION_TOO_OLD'
  /** A subsection whose name the description does not list. */
  | 'UNKNOWN_SUBSECTION'
  /** A length or count field larger than the description allows. */
  | 'LENGTH_TOO_LARGE'
  /** The stream ended inside the body. */
  | 'TRUNCATED'
  /** A pre-load or post-load hook refused the state. */
  | 'HOOK_FAILED'
  /** The state has no object to load a nested description into, and the description has no `create()`. */
  | 'NO_STATE_OBJECT';

/** Which stream error code each load reason carries (so the driver reports EINVAL or EIO). */
const STREAM_CODE: Readonly<Record<VmStateLoadReason, StreamErrorCode>> = {
  VERSION_TOO_NEW: 'UNSUPPORTED_VERSION',
  VERSION_TOO_OLD: 'UNSUPPORTED_VERSION',
  UNKNOWN_SUBSECTION: 'BAD_BODY',
  LENGTH_TOO_LARGE: 'TOO_LARGE',
  TRUNCATED: 'TRUNCATED',
  HOOK_FAILED: 'BAD_BODY',
  NO_STATE_OBJECT: 'BAD_BODY',
};

/** What a {@link VmStateLoadError} is built from. */
export interface VmStateLoadErrorInit {
  /** Why. */
  readonly reason: VmStateLoadReason;
  /** Stream offset where the problem was found. */
  readonly offset: number;
  /** Path of the description being loaded (`parent/sub`, or `parent.field` for nested ones). */
  readonly description: string;
  /** The field being read, when there is one. */
  readonly field?: string | undefined;
  /** The version found in the stream, when it matters. */
  readonly streamVersion?: number | undefined;
  /** The local description's version. */
  readonly localVersion?: number | undefined;
  /** The local description's minimum version. */
  readonly minimumVersion?: number | undefined;
  /** What happened, in words. */
  readonly detail: string;
  /** The original error (a stream truncation, a hook's throw). */
  readonly cause?: unknown;
}

/**
 * A vmstate body that cannot be loaded. Like every decoder's error it is a
 * {@link StreamError}: bytes at an offset, a stream code and the errno that code implies (EIO
 * for a truncation, EINVAL otherwise); it adds the description, field and versions, and its
 * own `reason` (a {@link VmStateLoadReason}). Thrown inside `loadState`, it is the `cause` of
 * the `MigrationError` the driver builds, whose reason `reasonOf` derives from it
 * (`docs/design/errors.md`).
 */
export class VmStateLoadError extends StreamError {
  /** Why. */
  readonly reason: VmStateLoadReason;
  /** Path of the description being loaded. */
  readonly description: string;
  /** The field being read, if any. */
  readonly field: string | undefined;
  /** The version found in the stream, if it matters. */
  readonly streamVersion: number | undefined;
  /** The local description's version, if it matters. */
  readonly localVersion: number | undefined;
  /** The local description's minimum version, if it matters. */
  readonly minimumVersion: number | undefined;

  /** @param init the reason, where, and what */
  constructor(init: VmStateLoadErrorInit) {
    const where = init.field === undefined ? init.description : `${init.description}.${init.field}`;
    super(STREAM_CODE[init.reason], init.offset, `vmstate ${where}: ${init.detail}`, { cause: init.cause });
    this.reason = init.reason;
    this.description = init.description;
    this.field = init.field;
    this.streamVersion = init.streamVersion;
    this.localVersion = init.localVersion;
    this.minimumVersion = init.minimumVersion;
  }
}
