/**
 * Typed errors raised by `@savevm/stream`. Every error names the byte offset in
 * the stream where the problem was found, a stable `code`, and the errno name QEMU reports
 * for it. This package is below the migration layer: when one of its errors surfaces through
 * a migration it is the `cause` of a `MigrationError` (see `docs/design/errors.md`).
 */
import { escapeWireString } from './text/wire-text.js';

/** What went wrong, as a stable machine-readable code. */
export type StreamErrorCode =
  | 'BAD_MAGIC'
  | 'OBSOLETE_VERSION'
  | 'UNSUPPORTED_VERSION'
  | 'MISSING_CONFIGURATION'
  | 'BAD_CONFIGURATION'
  | 'MISSING_FOOTER'
  | 'FOOTER_MISMATCH'
  | 'UNKNOWN_RECORD'
  | 'UNKNOWN_COMMAND'
  | 'BAD_COMMAND_LENGTH'
  | 'UNKNOWN_SECTION'
  | 'BAD_VMDESC'
  | 'BAD_BODY'
  | 'BAD_MULTIFD_PACKET'
  | 'TOO_LARGE'
  | 'TRUNCATED'
  | 'IO';

/** An errno name: `E` and capitals or digits (`EIO`, `E2BIG`). */
const ERRNO_NAME = /^E[A-Z0-9]+$/;

/** Base class of every error raised by this package. */
export class StreamError extends Error {
  /** The byte offset in the stream at which the problem was found. */
  readonly offset: number;
  /** Stable code for the cause. */
  readonly code: StreamErrorCode;
  /** The description without the byte offset (for messages that state the offset elsewhere); wire strings in it are escaped. */
  readonly detail: string;

  /**
   * The errno name QEMU reports for it: `EIO` for a truncation (reading past the end), the
   * channel's own errno for an I/O failure (`EIO` when it had none), `EINVAL` for anything
   * else (a malformed stream).
   */
  readonly errno: string;

  /**
   * @param code the cause; @param offset byte offset; @param detail human-readable cause
   * (control characters in it, which can only come from the wire, are escaped: see
   * `docs/design/hostile-input.md`); @param options the error underneath (`cause`), and the
   * errno name when it is not the one the code implies (`errno`: an I/O failure's own)
   */
  constructor(code: StreamErrorCode, offset: number, detail: string, options?: { readonly cause?: unknown; readonly errno?: string | undefined }) {
    const safe = escapeWireString(detail);
    super(`at byte offset ${offset}: ${safe}`, options !== undefined && 'cause' in options ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.offset = offset;
    this.detail = safe;
    this.errno = options?.errno ?? (code === 'TRUNCATED' || code === 'IO' ? 'EIO' : 'EINVAL');
  }
}

/** The stream violates QEMU's migration stream grammar. */
export class StreamFormatError extends StreamError {}

/** The stream ended before a complete record (QEMU: reading past EOF sets -EIO). */
export class StreamTruncatedError extends StreamError {
  /** @param offset where the missing bytes should have been; @param wanted what was being read */
  constructor(offset: number, wanted: string) {
    super('TRUNCATED', offset, `stream truncated while reading ${wanted}`);
  }
}

/** The underlying channel failed (write error, closed socket, shut down). */
export class StreamIoError extends StreamError {
  /** The channel's errno name (`EPIPE`, `ECONNRESET`, …), `EIO` when its error had none. */
  declare readonly errno: string;

  /** @param offset bytes transferred when it failed; @param cause the channel's error */
  constructor(offset: number, detail: string, cause?: unknown) {
    const code = (cause as { code?: unknown } | undefined)?.code;
    super('IO', offset, detail, { cause, errno: typeof code === 'string' && ERRNO_NAME.test(code) ? code : 'EIO' });
  }
}
