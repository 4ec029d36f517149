/**
 * QEMU-style migration URIs (`migrate URI` / `-incoming URI`): what each scheme names.
 * Parsing only; opening is in `outgoing.ts` and `incoming.ts`.
 */
import { TransportError } from './transport-error.js';

/** `tcp:HOST:PORT` (HOST may be empty on the destination, or `[v6]`). */
export interface TcpUri {
  /** Discriminant: a TCP connection. */
  readonly scheme: 'tcp';
  /** Host name or address, without brackets; empty when the URI gave none. */
  readonly host: string;
  /** Port number (0 on the destination: any free port). */
  readonly port: number;
}

/** `unix:PATH`: a Unix-domain stream socket. */
export interface UnixUri {
  /** Discriminant: a Unix-domain socket. */
  readonly scheme: 'unix';
  /** Socket path. */
  readonly path: string;
}

/** `file:PATH`: a regular file (snapshot and restore). */
export interface FileUri {
  /** Discriminant: a regular file. */
  readonly scheme: 'file';
  /** File path. */
  readonly path: string;
}

/** `fd:N`: a descriptor this process inherited. */
export interface FdUri {
  /** Discriminant: an inherited file descriptor. */
  readonly scheme: 'fd';
  /** The descriptor number. */
  readonly fd: number;
}

/** `exec:CMD`: a shell command; the stream is its stdin (source) or stdout (destination). */
export interface ExecUri {
  /** Discriminant: a child process's stdin or stdout. */
  readonly scheme: 'exec';
  /** The command line, run with `sh -c`. */
  readonly command: string;
}

/** A parsed migration URI. */
export type MigrationUri = TcpUri | UnixUri | FileUri | FdUri | ExecUri;

/** The schemes understood, in the order the usage text lists them. */
export const MIGRATION_URI_SCHEMES = ['tcp', 'unix', 'file', 'fd', 'exec'] as const;

/** One of {@link MIGRATION_URI_SCHEMES}. */
export type MigrationUriScheme = MigrationUri['scheme'];

function invalid(uri: string, detail: string): TransportError {
  return new TransportError({ uri, phase: 'uri', detail });
}

function parsePort(uri: string, text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw invalid(uri, `"${text}" is not a port number (0-65535)`);
  return Number(text);
}

function parseTcp(uri: string, rest: string): TcpUri {
  // [v6]:port, host:port or :port
  const bracketed = /^\[([^\]]*)\]:(.*)$/.exec(rest);
  if (bracketed) return { scheme: 'tcp', host: bracketed[1] ?? '', port: parsePort(uri, bracketed[2] ?? '') };
  const colon = rest.lastIndexOf(':');
  if (colon < 0) throw invalid(uri, 'expected tcp:HOST:PORT');
  const host = rest.slice(0, colon);
  if (host.includes(':')) throw invalid(uri, 'write an IPv6 address in brackets: tcp:[::1]:PORT');
  return { scheme: 'tcp', host, port: parsePort(uri, rest.slice(colon + 1)) };
}

/**
 * Parses a migration URI.
 * @throws TransportError (phase `uri`) for an unknown scheme or a malformed address
 */
export function parseMigrationUri(uri: string): MigrationUri {
  const colon = uri.indexOf(':');
  const scheme = colon < 0 ? uri : uri.slice(0, colon);
  const rest = colon < 0 ? '' : uri.slice(colon + 1);
  switch (scheme) {
    case 'tcp':
      return parseTcp(uri, rest);
    case 'unix':
    case 'file':
      if (rest === '') throw invalid(uri, `expected ${scheme}:PATH`);
      return { scheme, path: rest };
    case 'fd':
      if (!/^\d+$/.test(rest)) throw invalid(uri, 'expected fd:N with N a descriptor number');
      return { scheme: 'fd', fd: Number(rest) };
    case 'exec':
      if (rest.trim() === '') throw invalid(uri, 'expected exec:COMMAND');
      return { scheme: 'exec', command: rest };
    default:
      throw invalid(
        uri,
        `unknown transport "${scheme}"; use one of ${MIGRATION_URI_SCHEMES.map((s) => `${s}:`).join(', ')}`,
      );
  }
}

/** The URI written back in its canonical form (for messages). */
export function formatMigrationUri(uri: MigrationUri): string {
  switch (uri.scheme) {
    case 'tcp':
      return `tcp:${formatHostPort(uri.host, uri.port)}`;
    case 'unix':
    case 'file':
      return `${uri.scheme}:${uri.path}`;
    case 'fd':
      return `fd:${uri.fd}`;
    case 'exec':
      return `exec:${uri.command}`;
  }
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
