/** TLS with mutual authentication: the credentials both sides present and trust. */
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { TransportError } from './transport-error.js';

/** PEM credentials: this side's certificate and key, and the CA that signs the peer's. */
export interface TlsCredentials {
  /** This side's certificate chain (PEM). */
  readonly cert: string | Buffer;
  /** This side's private key (PEM). */
  readonly key: string | Buffer;
  /** The CA certificate(s) a peer's certificate must chain to (PEM); only these are trusted. */
  readonly ca: string | Buffer;
}

/** Paths of the three PEM files (`--tls-cert`, `--tls-key`, `--tls-ca`). */
export interface TlsCredentialFiles {
  /** Certificate file. */
  readonly certFile: string;
  /** Private key file. */
  readonly keyFile: string;
  /** CA certificate file. */
  readonly caFile: string;
}

/**
 * Reads the three PEM files.
 * @throws TransportError (phase `options`) naming the file that could not be read
 */
export function loadTlsCredentials(files: TlsCredentialFiles, uri = 'tls'): TlsCredentials {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (cause) {
      throw new TransportError({ uri, phase: 'options', detail: `cannot read the TLS ${what} ${path}`, cause });
    }
  };
  return { cert: read(files.certFile, 'certificate'), key: read(files.keyFile, 'key'), ca: read(files.caFile, 'CA certificate') };
}

/** Who is on the other end of a connection. */
export interface PeerIdentity {
  /** The peer's address (`host:port`, or the socket path). */
  readonly address: string;
  /** The peer certificate's subject common name, with TLS. */
  readonly subject?: string;
  /** The peer certificate's issuer common name, with TLS. */
  readonly issuer?: string;
  /** SHA-256 fingerprint of the peer certificate, with TLS. */
  readonly fingerprint256?: string;
}

/** Reads the verified peer certificate of a TLS socket into a {@link PeerIdentity}. */
export function tlsPeerIdentity(socket: TLSSocket, address: string): PeerIdentity {
  const cert = socket.getPeerCertificate();
  const name = (field: unknown): string | undefined => {
    const cn = (field as { CN?: unknown } | undefined)?.CN;
    return typeof cn === 'string' ? cn : Array.isArray(cn) ? cn.join(',') : undefined;
  };
  const subject = name(cert.subject);
  const issuer = name(cert.issuer);
  return {
    address,
    ...(subject !== undefined && { subject }),
    ...(issuer !== undefined && { issuer }),
    ...(cert.fingerprint256 !== undefined && { fingerprint256: cert.fingerprint256 }),
  };
}

/** The TLS settings both sides share: TLS 1.3 only. */
export const TLS_MIN_VERSION = 'TLSv1.3';
