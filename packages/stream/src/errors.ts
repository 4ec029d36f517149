/**
 * Typed errors raised by `@savevm/stream`. Every error names the byte offset in
 * the stream where the problem was found.
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

/** Base class of every error raised by this package. */
export class StreamError extends Error {
  /** The byte offset in the stream at which the problem was found. */
  readonly offset: number;
  /** Stable code for the cause. */
  readonly code: StreamErrorCode;
  /** The description without the byte offset (for messages that state the offset elsewhere); wire strings in it are escaped. */
  readonly detail: string;

  /**
   * @param code the cause; @param offset byte offset; @param detail human-readable cause
   * (control characters in it, which can only come from the wire, are escaped: see
   * `docs/design/hostile-input.md`)
   */
  constructor(code: StreamErrorCode, offset: number, detail: string, options?: { cause?: unknown }) {
    const safe = escapeWireString(detail);
    super(`at byte offset ${offset}: ${safe}`, options);
    this.name = new.target.name;
    this.code = code;
    this.offset = offset;
    this.detail = safe;
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
  /** The errno name (`EPIPE`, `ECONNRESET`, …) when the cause had one. */
  readonly errno: string | undefined;

  /** @param offset bytes transferred when it failed; @param cause the channel's error */
  constructor(offset: number, detail: string, cause?: unknown) {
    super('IO', offset, detail, { cause });
    const code = (cause as { code?: unknown } | undefined)?.code;
    this.errno = typeof code === 'string' ? code : undefined;
  }
}
