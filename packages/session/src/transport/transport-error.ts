/** The one error type of the transports: which URI, which step, what happened. */

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
}

function codeOf(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** A transport failure: `uri`, `phase` and `code` say where and what; `cause` is the original error. */
export class TransportError extends Error {
  /** The URI as given. */
  readonly uri: string;
  /** Which step failed. */
  readonly phase: TransportPhase;
  /** The bare description. */
  readonly detail: string;
  /** errno-style code, if any. */
  readonly code: string | undefined;

  /** @param init what happened and where */
  constructor(init: TransportErrorInit) {
    super(`${init.uri}: ${init.phase === 'uri' ? 'invalid URI' : init.phase}: ${init.detail}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.uri = init.uri;
    this.phase = init.phase;
    this.detail = init.detail;
    this.code = init.code ?? codeOf(init.cause);
  }
}
