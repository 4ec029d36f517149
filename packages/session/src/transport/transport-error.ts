/**
 * The one error type of the transports: which URI, which step, what happened. It is a core
 * `MigrationError`, so a migration that fails in its transport carries a reason too.
 */
import { MigrationError, MigrationErrorReason } from '@savevm/core';

/** The step of opening or using a transport that failed. */
export type TransportPhase =
  /** The URI could not be parsed (unknown scheme, bad port…). */
  | 'uri'
  /** Options do not fit the URI (e.g. TLS on a file). */
  | 'options'
  /** Binding or listening (destination). */
  | 'listen'
  /** Waiting for the peer (destination) or connecting to it (source). */
  | 'connect'
  /** The TLS handshake or the peer's certificate. */
  | 'tls'
  /** Starting or running an `exec:` command. */
  | 'exec'
  /** Moving the stream's bytes (no progress within the transfer timeout). */
  | 'transfer';

/** What a {@link TransportError} is built from. */
export interface TransportErrorInit {
  /** The URI as given. */
  readonly uri: string;
  /** Which step failed. */
  readonly phase: TransportPhase;
  /** What happened, in words. */
  readonly detail: string;
  /** The original error. */
  readonly cause?: unknown;
  /** errno-style code (`ETIMEDOUT`, `ECONNREFUSED`…), taken from the cause when not given. */
  readonly code?: string | undefined;
  /** Overrides the reason (default: the phase's, see {@link TransportError}). */
  readonly reason?: MigrationErrorReason | undefined;
}

/** The failure reason each transport step stands for. */
const PHASE_REASON: Readonly<Record<TransportPhase, MigrationErrorReason>> = {
  uri: MigrationErrorReason.INVALID_ARGUMENT,
  options: MigrationErrorReason.INVALID_ARGUMENT,
  listen: MigrationErrorReason.CONNECT_FAILED,
  connect: MigrationErrorReason.CONNECT_FAILED,
  tls: MigrationErrorReason.TLS_REFUSED,
  exec: MigrationErrorReason.CONNECT_FAILED,
  transfer: MigrationErrorReason.TIMEOUT,
};

const ERRNO_LIKE = /^E[A-Z0-9]+$/;

function codeOf(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A transport failure: `uri`, `phase` and `code` say where and what; `cause` is the original
 * error. It is a `MigrationError` whose `reason` follows the phase: `uri` and `options` →
 * INVALID_ARGUMENT, `tls` → TLS_REFUSED, `transfer` (the transfer timeout) → TIMEOUT,
 * `listen`, `connect` and `exec` (the command is the connection) → CONNECT_FAILED.
 */
export class TransportError extends MigrationError {
  /** The URI as given. */
  readonly uri: string;
  /** Which step failed. */
  declare readonly phase: TransportPhase;
  /** errno-style code, if any. */
  readonly code: string | undefined;

  /** @param init what happened and where */
  constructor(init: TransportErrorInit) {
    const code = init.code ?? codeOf(init.cause);
    super({
      phase: init.phase,
      reason: init.reason ?? PHASE_REASON[init.phase],
      detail: init.detail,
      cause: init.cause,
      errno: code !== undefined && ERRNO_LIKE.test(code) ? code : undefined,
      message: `${init.uri}: ${init.phase === 'uri' ? 'invalid URI' : init.phase}: ${init.detail}`,
    });
    this.uri = init.uri;
    this.code = code;
  }
}
