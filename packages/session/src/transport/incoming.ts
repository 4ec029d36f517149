/**
 * The destination's side of a transport: listens on (or opens) a migration URI and hands
 * back a `QemuFileReader` for `MigrationDestination.load` — under TLS only after the
 * handshake completed and the source's certificate was verified, so no byte of device
 * state from an unauthenticated peer ever reaches the loader.
 */
import { closeSync, existsSync, unlinkSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { FdChannel, QemuFileReader, type ReadChannel, SocketChannel, type WriteChannel } from '@savevm/stream';
import { ExecChannel } from './exec-channel.js';
import { type PendingOpen, openForReading } from './open-for-reading.js';
import { isSocketFd } from './socket-fd.js';
import { formatHostPort, type MigrationUri, parseMigrationUri } from './migration-uri.js';
import { type PeerIdentity, TLS_MIN_VERSION, type TlsCredentials, tlsPeerIdentity } from './tls-credentials.js';
import { DEFAULT_LISTEN_ADDRESS, checkTlsScheme, type IncomingTransportOptions } from './transport-options.js';
import { TransportError } from './transport-error.js';
import { WatchdogChannel } from './watchdog-channel.js';
import { describePeerHandshakeFailure } from './tls-failure-words.js';

/** An accepted (or opened) incoming stream. */
export interface IncomingTransport {
  /** The URI as given. */
  readonly uri: string;
  /** Where the stream comes from, for messages. */
  readonly description: string;
  /** The reader to load from. */
  readonly reader: QemuFileReader;
  /** The source, for network transports (with its verified certificate under TLS). */
  readonly peer: PeerIdentity | undefined;
  /**
   * The return path (QEMU's `to_src_file`): messages back to the source on the same
   * connection, e.g. the switchover ACK. Network transports only.
   */
  readonly returnPath: WriteChannel | undefined;
  /** Releases the channel; rejects when an `exec:` command failed. */
  close(): Promise<void>;
  /** Makes pending and future reads end at once. */
  shutdown(): void;
  /**
   * Ends a stream that was loaded whole: waits for an `exec:` source command's exit and
   * rejects, naming how it failed, when it did not exit 0. Absent where the end of the
   * stream says nothing more.
   */
  readonly finish?: (() => Promise<void>) | undefined;
}

/** Where a `tcp:` or `unix:` destination listens. */
export interface ListenAddress {
  /** `tcp` or `unix`. */
  readonly kind: 'tcp' | 'unix';
  /** Bound address (tcp) or socket path (unix). */
  readonly host: string;
  /** Bound port (tcp; the real one when the URI said 0), 0 for unix. */
  readonly port: number;
  /** Whether only this machine can connect (127.0.0.0/8, ::1 or a unix socket). */
  readonly loopbackOnly: boolean;
}

/** A destination waiting for its stream. */
export interface IncomingListener {
  /** The URI as given. */
  readonly uri: string;
  /** Where it listens (network transports only). */
  readonly listening: ListenAddress | undefined;
  /** Whether peers must present a certificate signed by the CA. */
  readonly tls: boolean;
  /**
   * Waits for the stream: the first peer that connects (under TLS: the first whose
   * certificate verifies; others are refused and reported through `onPeerRefused`), or
   * the opened file, descriptor or command. Stops listening once it has one.
   * @throws TransportError (phase `connect`) when the connect timeout expires first
   */
  accept(): Promise<IncomingTransport>;
  /** Stops listening (and removes a unix socket file it created). */
  close(): Promise<void>;
}

/** Whether an address is loopback-only. */
export function isLoopbackAddress(host: string): boolean {
  return host === '::1' || host === 'localhost' || /^127\./.test(host) || host.toLowerCase() === '::ffff:127.0.0.1';
}

/**
 * Starts listening on `uri` (`tcp:`, `unix:`), or prepares to open it (`file:`, `fd:`,
 * `exec:`). A `tcp:` destination binds to `listenAddress`, else the URI's host, else
 * 127.0.0.1.
 * @throws TransportError naming the URI and the phase (uri, options, listen)
 */
export async function listenIncoming(uri: string, options: IncomingTransportOptions = {}): Promise<IncomingListener> {
  const parsed = parseMigrationUri(uri);
  checkTlsScheme(uri, parsed, options);
  if (parsed.scheme === 'tcp' || parsed.scheme === 'unix') return SocketListener.listen(uri, parsed, options);
  const wrap = (channel: ReadChannel): ReadChannel =>
    options.transferTimeoutMs ? new WatchdogChannel(channel, options.transferTimeoutMs, uri) : channel;
  let pending: PendingOpen | undefined;
  return {
    uri,
    listening: undefined,
    tls: false,
    accept: async () => {
      const { channel, description, returnPath, finish } =
        parsed.scheme === 'file' ? await openFile(uri, parsed.path, (p) => (pending = p)) : openLocal(uri, parsed);
      return { ...incomingOver(uri, wrap(channel), description, undefined, returnPath), ...(finish && { finish }) };
    },
    // Stops a file: destination waiting for a FIFO's writer.
    close: async () => pending?.cancel(),
  };
}

/** A `file:`, `fd:` or `exec:` stream, opened. */
interface LocalChannel {
  readonly channel: ReadChannel;
  readonly description: string;
  /** A socket `fd:`'s way back. */
  readonly returnPath?: WriteChannel;
  /** See {@link IncomingTransport.finish}. */
  readonly finish?: () => Promise<void>;
}

/** Opens a `file:` path off the event loop (a FIFO waits for its writer there); `started` gets the open to cancel. */
async function openFile(uri: string, path: string, started: (open: PendingOpen) => void): Promise<LocalChannel> {
  const open = openForReading(path);
  started(open);
  let fd: number;
  try {
    fd = await open.opened;
  } catch (cause) {
    throw new TransportError({ uri, phase: 'connect', detail: `cannot open ${path}: ${(cause as Error).message}`, cause });
  }
  try {
    return { channel: new FdChannel(fd, { ownsFd: true }), description: `file ${path}` };
  } catch (cause) {
    closeSync(fd);
    throw new TransportError({ uri, phase: 'connect', detail: `cannot read ${path}: ${(cause as Error).message}`, cause });
  }
}

function incomingOver(
  uri: string,
  channel: ReadChannel,
  description: string,
  peer: PeerIdentity | undefined,
  returnPath: WriteChannel | undefined = undefined,
): IncomingTransport {
  const reader = new QemuFileReader(channel);
  return { uri, description, reader, peer, returnPath, close: () => channel.close(), shutdown: () => reader.shutdown() };
}

function openLocal(
  uri: string,
  parsed: Extract<MigrationUri, { scheme: 'fd' | 'exec' }>,
): LocalChannel {
  switch (parsed.scheme) {
    case 'fd':
      try {
        if (isSocketFd(parsed.fd)) {
          const socket = new SocketChannel(new net.Socket({ fd: parsed.fd, readable: true, writable: true }));
          return { channel: socket, description: `fd ${parsed.fd} (socket)`, returnPath: socket };
        }
        return { channel: new FdChannel(parsed.fd, { ownsFd: true }), description: `fd ${parsed.fd}` };
      } catch (cause) {
        throw new TransportError({ uri, phase: 'connect', detail: `descriptor ${parsed.fd} is not open: ${(cause as Error).message}`, cause });
      }
    case 'exec': {
      const channel = new ExecChannel(uri, parsed.command, 'read');
      const finish = (): Promise<void> =>
        channel.close().catch((cause: unknown) => {
          const how = channel.failure ?? `failed (${cause instanceof Error ? cause.message : String(cause)})`;
          throw new TransportError({ uri, phase: 'exec', detail: `the source command ${how} after sending the whole stream; the load is complete`, cause });
        });
      return { channel, description: `exec ${parsed.command} (pid ${channel.pid ?? '?'})`, finish };
    }
  }
}

/**
 * A `tcp:`/`unix:` listener that accepts `connections` (authenticated) peers, one per
 * `accept()`, then stops listening.
 */
class SocketListener implements IncomingListener {
  /** The `accept()` waiting for the next peer, if any. */
  private settle: { resolve(t: IncomingTransport): void; reject(e: Error): void } | undefined;
  private closed = false;
  /** Peers accepted before `accept()` asked for them. */
  private readonly waiting: IncomingTransport[] = [];
  private remaining: number;
  private failure: TransportError | undefined;

  private constructor(
    readonly uri: string,
    private readonly server: net.Server,
    readonly listening: ListenAddress,
    private readonly options: IncomingTransportOptions,
  ) {
    this.remaining = options.connections ?? 1;
    const event = options.tls ? 'secureConnection' : 'connection';
    server.on(event, (socket: net.Socket) => this.onPeer(socket));
    const addresses = new WeakMap<net.Socket, string>();
    server.prependListener('connection', (raw: net.Socket) => addresses.set(raw, peerAddress(raw, listening)));
    server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      options.onPeerRefused?.(refusedPeerAddress(socket, addresses, listening), tlsRefusalReason(err, socket));
    });
    server.on('error', (cause: Error) => this.fail(new TransportError({ uri, phase: 'listen', detail: cause.message, cause })));
  }

  get tls(): boolean {
    return this.options.tls !== undefined;
  }

  /** Binds and listens. */
  static async listen(uri: string, parsed: Extract<MigrationUri, { scheme: 'tcp' | 'unix' }>, options: IncomingTransportOptions): Promise<SocketListener> {
    const server = options.tls ? createTlsServer(options.tls) : net.createServer({ noDelay: true });
    const host = parsed.scheme === 'tcp' ? options.listenAddress ?? (parsed.host === '' ? DEFAULT_LISTEN_ADDRESS : parsed.host) : parsed.path;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (cause: NodeJS.ErrnoException) => {
        const hint = cause.code === 'EADDRINUSE' ? ' (address in use: another destination, or a stale socket file?)' : '';
        reject(new TransportError({ uri, phase: 'listen', detail: `cannot listen on ${parsed.scheme === 'tcp' ? formatHostPort(host, parsed.port) : host}: ${cause.message}${hint}`, cause }));
      });
      if (parsed.scheme === 'tcp') server.listen({ host, port: parsed.port, exclusive: true }, resolve);
      else server.listen({ path: host, exclusive: true }, resolve);
    });
    server.removeAllListeners('error');
    const bound = server.address();
    const listening: ListenAddress =
      parsed.scheme === 'tcp' && bound !== null && typeof bound === 'object'
        ? { kind: 'tcp', host: bound.address, port: bound.port, loopbackOnly: isLoopbackAddress(bound.address) }
        : { kind: 'unix', host, port: 0, loopbackOnly: true };
    return new SocketListener(uri, server, listening, options);
  }

  accept(): Promise<IncomingTransport> {
    const early = this.waiting.shift();
    if (early !== undefined) return Promise.resolve(early);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new TransportError({ uri: this.uri, phase: 'connect', detail: 'stopped listening' }));
    const accepted = new Promise<IncomingTransport>((resolve, reject) => (this.settle = { resolve, reject }));
    const ms = this.options.connectTimeoutMs;
    if (ms === undefined) return accepted;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const where = this.listening.kind === 'tcp' ? formatHostPort(this.listening.host, this.listening.port) : this.listening.host;
        reject(new TransportError({ uri: this.uri, phase: 'connect', detail: `no source connected to ${where} within ${ms} ms`, code: 'ETIMEDOUT' }));
        void this.close();
      }, ms);
    });
    return Promise.race([accepted, timeout]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new TransportError({ uri: this.uri, phase: 'connect', detail: 'stopped listening' }));
    // Stopped before every connection came: the ones nobody took are closed.
    if (this.remaining > 0) {
      for (const t of this.waiting.splice(0)) {
        t.shutdown();
        void t.close().catch(() => undefined);
      }
    }
    // Stop accepting; an accepted stream stays open (server.close would wait for it).
    this.server.close();
    if (this.listening.kind === 'unix' && existsSync(this.listening.host)) {
      try {
        unlinkSync(this.listening.host);
      } catch {
        // already gone
      }
    }
  }

  private onPeer(socket: net.Socket): void {
    if (this.remaining === 0 || this.closed) {
      socket.destroy();
      return;
    }
    const address = peerAddress(socket, this.listening);
    const peer = socket instanceof tls.TLSSocket ? tlsPeerIdentity(socket, address) : { address };
    if (socket instanceof tls.TLSSocket && !socket.authorized) {
      // rejectUnauthorized makes this unreachable; kept as a second lock.
      this.options.onPeerRefused?.(address, `certificate not authorized: ${String(socket.authorizationError)}`);
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const base = new SocketChannel(socket);
    const channel = this.options.transferTimeoutMs ? new WatchdogChannel(base, this.options.transferTimeoutMs, this.uri) : base;
    const via = socket instanceof tls.TLSSocket ? ` (TLS, source certificate CN=${peer.subject ?? '?'})` : '';
    const transport = incomingOver(this.uri, channel, `${this.listening.kind} from ${address}${via}`, peer, base);
    this.remaining--;
    const settle = this.settle;
    this.settle = undefined;
    if (settle !== undefined) settle.resolve(transport);
    else this.waiting.push(transport);
    // One migration per destination: stop listening once every connection came (the accepted sockets stay open).
    if (this.remaining === 0) void this.close();
  }

  private fail(error: TransportError): void {
    const settle = this.settle;
    this.settle = undefined;
    // Once every connection came, stopping to listen is no failure: accept() hands out what came.
    if (this.remaining > 0) this.failure ??= error;
    settle?.reject(error);
  }
}

function createTlsServer(credentials: TlsCredentials): tls.Server {
  return tls.createServer({
    cert: credentials.cert,
    key: credentials.key,
    ca: credentials.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: TLS_MIN_VERSION,
    noDelay: true,
  });
}

function peerAddress(socket: net.Socket, listening: ListenAddress): string {
  if (listening.kind === 'unix') return `unix:${listening.host}`;
  const host = socket.remoteAddress ?? '?';
  return formatHostPort(host, socket.remotePort ?? 0);
}

/**
 * The address of a peer whose handshake failed. Node has destroyed its sockets by then, so
 * the address noted at connection time is looked up by the TLS socket's underlying TCP
 * socket (`_parent`, not public API; 'a peer' if that ever changes).
 */
function refusedPeerAddress(socket: tls.TLSSocket, addresses: WeakMap<net.Socket, string>, listening: ListenAddress): string {
  const raw = (socket as unknown as { _parent?: net.Socket })._parent;
  return (raw && addresses.get(raw)) ?? (listening.kind === 'unix' ? `unix:${listening.host}` : 'a peer');
}

/** Why a peer was refused: the certificate verdict when there is one, else the handshake error. */
function tlsRefusalReason(err: Error, socket: tls.TLSSocket): string {
  const verdict = socket.authorizationError;
  if (verdict) return `certificate not accepted: ${String(verdict)}`;
  return describePeerHandshakeFailure(err);
}
