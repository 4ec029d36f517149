/**
 * The source's side of a transport: opens a migration URI for writing and hands back a
 * `QemuFileWriter` for `MigrationSource.migrate`.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { FdChannel, QemuFileWriter, type ReadChannel, SocketChannel, openFileChannel, type WriteChannel } from '@savevm/stream';
import { ExecChannel } from './exec-channel.js';
import { isSocketFd } from './socket-fd.js';
import { formatHostPort, type MigrationUri, parseMigrationUri } from './migration-uri.js';
import { type PeerIdentity, TLS_MIN_VERSION, type TlsCredentials, tlsPeerIdentity } from './tls-credentials.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, checkTlsScheme, type OutgoingOptions } from './transport-options.js';
import { TransportError } from './transport-error.js';
import { describeSourceHandshakeFailure, isTlsErrorCode } from './tls-failure-words.js';
import { WatchdogChannel } from './watchdog-channel.js';

/** An open outgoing stream. */
export interface OutgoingTransport {
  /** The URI as given. */
  readonly uri: string;
  /** What it is connected to, for messages (e.g. `tcp 10.200.0.1:4444 (TLS, peer CN=dst)`). */
  readonly description: string;
  /** The writer to migrate into. */
  readonly writer: QemuFileWriter;
  /** The destination, for network transports (with its verified certificate under TLS). */
  readonly peer: PeerIdentity | undefined;
  /**
   * The return path (QEMU's `to_src_file`): what the destination sends back on the same
   * connection, e.g. the switchover ACK. Network transports only.
   */
  readonly returnPath: ReadChannel | undefined;
  /** Flushes nothing (the driver flushed), releases the channel; rejects when an `exec:` command failed. */
  close(): Promise<void>;
  /** Fails pending and future writes at once. */
  shutdown(): void;
}

/**
 * Opens `uri` for writing: connects (`tcp:`, `unix:`, with TLS when credentials are given),
 * creates the file (`file:`), takes the descriptor (`fd:`) or starts the command (`exec:`).
 * @throws TransportError naming the URI and the phase (uri, options, connect, tls, exec)
 */
export async function openOutgoing(uri: string, options: OutgoingOptions = {}): Promise<OutgoingTransport> {
  const parsed = parseMigrationUri(uri);
  checkTlsScheme(uri, parsed, options);
  const opened = await openChannel(uri, parsed, options);
  const channel = options.transferTimeoutMs ? new WatchdogChannel(opened.channel, options.transferTimeoutMs, uri) : opened.channel;
  const writer = new QemuFileWriter(channel, {
    ...(options.queueCap !== undefined && { queueCap: options.queueCap }),
    ...(options.rateLimiter !== undefined && { rateLimit: options.rateLimiter }),
  });
  return {
    uri,
    description: opened.description,
    writer,
    peer: opened.peer,
    returnPath: opened.channel instanceof SocketChannel ? opened.channel : undefined,
    close: () => channel.close(),
    shutdown: () => writer.shutdown(),
  };
}

interface OpenedChannel {
  readonly channel: WriteChannel;
  readonly description: string;
  readonly peer: PeerIdentity | undefined;
}

async function openChannel(uri: string, parsed: MigrationUri, options: OutgoingOptions): Promise<OpenedChannel> {
  switch (parsed.scheme) {
    case 'tcp':
    case 'unix':
      return connectSocket(uri, parsed, options);
    case 'file':
      try {
        return { channel: openFileChannel(parsed.path, 'write'), description: `file ${parsed.path}`, peer: undefined };
      } catch (cause) {
        throw new TransportError({ uri, phase: 'connect', detail: `cannot create ${parsed.path}: ${(cause as Error).message}`, cause });
      }
    case 'fd':
      try {
        if (isSocketFd(parsed.fd)) {
          return { channel: new SocketChannel(new net.Socket({ fd: parsed.fd, readable: true, writable: true })), description: `fd ${parsed.fd} (socket)`, peer: undefined };
        }
        return { channel: new FdChannel(parsed.fd, { ownsFd: true }), description: `fd ${parsed.fd}`, peer: undefined };
      } catch (cause) {
        throw new TransportError({ uri, phase: 'connect', detail: `descriptor ${parsed.fd} is not open: ${(cause as Error).message}`, cause });
      }
    case 'exec': {
      const channel = new ExecChannel(uri, parsed.command, 'write');
      return { channel, description: `exec ${parsed.command} (pid ${channel.pid ?? '?'})`, peer: undefined };
    }
  }
}

async function connectSocket(
  uri: string,
  parsed: Extract<MigrationUri, { scheme: 'tcp' | 'unix' }>,
  options: OutgoingOptions,
): Promise<OpenedChannel> {
  if (parsed.scheme === 'tcp' && parsed.host === '') {
    throw new TransportError({ uri, phase: 'uri', detail: 'the source needs a host: tcp:HOST:PORT' });
  }
  const address = parsed.scheme === 'tcp' ? formatHostPort(parsed.host, parsed.port) : parsed.path;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const socket = options.tls
    ? await connectTls(uri, parsed, options.tls, options.tlsServerName, timeoutMs)
    : await connectPlain(uri, parsed, timeoutMs);
  socket.setNoDelay(true);
  const peer = socket instanceof tls.TLSSocket ? tlsPeerIdentity(socket, address) : { address };
  const kind = parsed.scheme === 'tcp' ? 'tcp' : 'unix';
  const via = socket instanceof tls.TLSSocket ? ` (TLS, destination certificate CN=${peer.subject ?? '?'})` : '';
  return { channel: new SocketChannel(socket), description: `${kind} ${address}${via}`, peer };
}

function connectTarget(parsed: Extract<MigrationUri, { scheme: 'tcp' | 'unix' }>): net.NetConnectOpts {
  return parsed.scheme === 'tcp' ? { host: parsed.host, port: parsed.port } : { path: parsed.path };
}

/** Rejects after `ms` with a connect timeout, destroying the socket. */
function withConnectTimeout<T extends net.Socket>(uri: string, socket: T, ms: number, what: string, ready: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      socket.destroy();
      reject(new TransportError({ uri, phase: 'connect', detail: `${what} did not complete within ${ms} ms`, code: 'ETIMEDOUT' }));
    }, ms);
  });
  return Promise.race([ready, timeout]).finally(() => clearTimeout(timer));
}

function connectPlain(uri: string, parsed: Extract<MigrationUri, { scheme: 'tcp' | 'unix' }>, timeoutMs: number): Promise<net.Socket> {
  const socket = net.connect(connectTarget(parsed));
  const ready = new Promise<net.Socket>((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', (cause) =>
      reject(new TransportError({ uri, phase: 'connect', detail: `cannot connect: ${cause.message}`, cause })),
    );
  });
  return withConnectTimeout(uri, socket, timeoutMs, 'connecting', ready);
}

/**
 * Connects with TLS, verifies the destination's certificate against the CA and the
 * expected name, then waits for the destination to accept ours (TLS 1.3 sends its session
 * ticket only after it verified the client certificate; a refusal arrives as an alert).
 */
function connectTls(
  uri: string,
  parsed: Extract<MigrationUri, { scheme: 'tcp' | 'unix' }>,
  credentials: TlsCredentials,
  serverName: string | undefined,
  timeoutMs: number,
): Promise<tls.TLSSocket> {
  const expectedName = serverName ?? (parsed.scheme === 'tcp' ? parsed.host : undefined);
  if (expectedName === undefined) {
    return Promise.reject(new TransportError({ uri, phase: 'options', detail: 'TLS over unix: needs the destination certificate name (tlsServerName)' }));
  }
  const socket = tls.connect({
    ...connectTarget(parsed),
    cert: credentials.cert,
    key: credentials.key,
    ca: credentials.ca,
    minVersion: TLS_MIN_VERSION,
    rejectUnauthorized: true,
    ...(net.isIP(expectedName) === 0 && { servername: expectedName }),
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(expectedName, cert),
  });
  const ready = new Promise<tls.TLSSocket>((resolve, reject) => {
    let handshaken = false;
    const fail = (cause: Error): void => {
      socket.destroy();
      const detail = handshaken
        ? `the destination refused this side's certificate (${cause.message}); is it signed by the CA the destination trusts?`
        : describeSourceHandshakeFailure(cause);
      reject(new TransportError({ uri, phase: handshaken || isTlsErrorCode((cause as { code?: unknown }).code) ? 'tls' : 'connect', detail, cause }));
    };
    const closed = (): void => fail(Object.assign(new Error('connection closed during the TLS handshake'), { code: 'ECONNRESET' }));
    socket.once('error', fail);
    socket.once('close', closed);
    socket.once('secureConnect', () => {
      handshaken = true;
      // The destination has our certificate; it sends a session ticket once it accepted it.
      // 'session' is emitted from inside OpenSSL's record processing: writing before that
      // returns corrupts the TLS stream (bad record mac), so hand the socket over a turn later.
      socket.once('session', () =>
        setImmediate(() => {
          socket.off('error', fail);
          socket.off('close', closed);
          resolve(socket);
        }),
      );
    });
  });
  return withConnectTimeout(uri, socket, timeoutMs, 'connecting and the TLS handshake', ready);
}
