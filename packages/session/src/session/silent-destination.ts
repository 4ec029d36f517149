/**
 * A destination that closed the connection without answering a single byte — not even the
 * PONG every QEMU and savevm destination sends for the source's first PING — never read
 * the stream: it is a TLS destination refusing a plaintext source (its TLS layer drops a
 * peer whose first bytes are no handshake, without a word), or no migration destination
 * at all. Said as a TLS failure (phase `tls`), in one line, instead of the write that failed
 * later (issue 17 item 9; `docs/design/return-path.md`). Never with multifd channels: the
 * probe would be one more connection to a destination that waits for channels.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { MigrationError } from '@savevm/core';
import { type MigrationUri, parseMigrationUri } from '../transport/migration-uri.js';
import { TransportError } from '../transport/transport-error.js';

/** Longest wait for the probe's TLS answer, ms. */
const PROBE_TIMEOUT_MS = 1000;

/** What is known of the connection once the migration failed. */
export interface SilentDestinationFacts {
  /** The URI as given. */
  readonly uri: string;
  /** Whether this side used TLS. */
  readonly tls: boolean;
  /** Bytes the destination sent back on the return path (undefined: no return path). */
  readonly bytesReceived: number | undefined;
  /** Multifd channels the source asked for (0: none). */
  readonly multifdChannels: number;
}

/**
 * The failure to report: a TLS TransportError when a plaintext source without multifd
 * channels had its destination hang up without a byte back and a probe finds a TLS server
 * at its address, else `err` unchanged (a destination that refused the stream's header
 * hangs up without a byte too).
 */
export async function explainSilentDestination(err: unknown, facts: SilentDestinationFacts): Promise<unknown> {
  if (facts.tls || facts.bytesReceived !== 0) return err;
  // A destination that expects multifd channels takes any connection for one: QEMU counts a
  // probe as a bad channel (docs/design/return-path.md, "A destination that said nothing").
  if (facts.multifdChannels > 0) return err;
  if (!(err instanceof MigrationError) || err.reason === 'CANCELLED' || err instanceof TransportError) return err;
  if (err.reason !== 'DESTINATION_FAILED' && err.reason !== 'CONNECT_FAILED') return err;
  const parsed = parseMigrationUri(facts.uri);
  if ((parsed.scheme !== 'tcp' && parsed.scheme !== 'unix') || !(await speaksTls(parsed))) return err;
  return new TransportError({
    uri: facts.uri,
    phase: 'tls',
    detail:
      'the destination hung up without answering anything: it expects TLS and this side connected without it ' +
      '(give --tls-cert/--tls-key/--tls-ca, or TlsCredentials), or it is not a migration destination',
    cause: err,
  });
}

/** Whether a TLS server answers a handshake at the destination's address (it then refuses the probe: it has no certificate). */
function speaksTls(parsed: Extract<MigrationUri, { scheme: 'tcp' | 'unix' }>): Promise<boolean> {
  return new Promise((resolve) => {
    const target: net.NetConnectOpts = parsed.scheme === 'tcp' ? { host: parsed.host, port: parsed.port } : { path: parsed.path };
    const socket = tls.connect({ ...target, rejectUnauthorized: false });
    const done = (answer: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), PROBE_TIMEOUT_MS);
    // A server hello (its certificate came with it) is all it takes.
    socket.once('secureConnect', () => done(true));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code !== undefined && /^ERR_SSL_(TLSV1_ALERT|SSLV3_ALERT)/.test(e.code)));
    socket.once('close', () => done(false));
  });
}
