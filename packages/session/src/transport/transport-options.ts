/** Options shared by the outgoing and incoming transports. */
import type { RateLimiter } from '@savevm/stream';
import type { MigrationUri } from './migration-uri.js';
import type { TlsCredentials } from './tls-credentials.js';
import { TransportError } from './transport-error.js';

/** How a transport is opened and watched. */
export interface TransportOptions {
  /**
   * Source: longest time to connect (and finish the TLS handshake), ms. Destination:
   * longest wait for a peer, ms. Undefined: the source waits 10 s, the destination forever.
   */
  readonly connectTimeoutMs?: number | undefined;
  /**
   * Longest time a read or write may wait without a byte moving, ms (a cut link, a peer
   * that stopped). Undefined: no transfer timeout.
   */
  readonly transferTimeoutMs?: number | undefined;
  /** TLS with mutual authentication (`tcp:` and `unix:` only). */
  readonly tls?: TlsCredentials | undefined;
}

/** The source's extra options. */
export interface OutgoingOptions extends TransportOptions {
  /**
   * The name or address the destination's certificate must carry (default: the URI's
   * host; for `unix:`, required with TLS).
   */
  readonly tlsServerName?: string | undefined;
  /**
   * Most bytes the writer may hold that the connection has not taken yet (default
   * `DEFAULT_QUEUE_CAP` of `@savevm/stream`, 16 MiB); past it `rateLimitExceeded()` says
   * stop. `Infinity` lifts the cap (memory then grows with a slow link).
   */
  readonly queueCap?: number | undefined;
  /** A rate limiter the writer shares (multifd channels share the main stream's); default: its own, unlimited. */
  readonly rateLimiter?: RateLimiter | undefined;
}

/** The destination's extra options. */
export interface IncomingTransportOptions extends TransportOptions {
  /**
   * Address a `tcp:` destination binds to; overrides the URI's host. With neither, it
   * binds to 127.0.0.1 (loopback only).
   */
  readonly listenAddress?: string | undefined;
  /** Told about every peer refused before the stream began (a bad certificate), with the reason. */
  readonly onPeerRefused?: ((address: string, reason: string) => void) | undefined;
  /**
   * Connections a `tcp:`/`unix:` listener takes before it stops listening (default 1; with
   * multifd, the main stream plus one per channel, docs/design/multifd.md §2).
   */
  readonly connections?: number | undefined;
}

/** The source's default connect timeout, ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** The address a `tcp:` destination binds to when told nothing: loopback. */
export const DEFAULT_LISTEN_ADDRESS = '127.0.0.1';

/**
 * Refuses TLS on a transport that is not a network connection (`file:`, `fd:`, `exec:`),
 * on either side.
 * @throws TransportError (phase `options`)
 */
export function checkTlsScheme(uri: string, parsed: MigrationUri, options: TransportOptions): void {
  if (options.tls && parsed.scheme !== 'tcp' && parsed.scheme !== 'unix') {
    throw new TransportError({ uri, phase: 'options', detail: `TLS needs a network transport (tcp: or unix:), not ${parsed.scheme}:` });
  }
}
