/**
 * The destination's whole migration from a URI: listen (or open), take the first source
 * that authenticates, run core's destination driver with QEMU's return path, tell the
 * source how the load ended, close everything.
 */
import { MigrationCancelledError, MigrationError, type MigrationDestination, type MigrationInfo } from '@savevm/core';
import { formatHostPort } from '../transport/migration-uri.js';
import { type IncomingListener, type IncomingTransport, listenIncoming } from '../transport/incoming.js';
import { ReturnPathWriter } from '../transport/return-path.js';
import { type IncomingMultifd, acceptMultifdChannels } from '../transport/multifd-incoming.js';
import { TransportError } from '../transport/transport-error.js';
import { parseMigrationUri } from '../transport/migration-uri.js';
import { MAX_MULTIFD_CHANNELS } from '@savevm/core';
import { UUID_SIZE, parseUuid } from '@savevm/stream/multifd';
import type { IncomingEndpoint, IncomingParameters } from './session-options.js';

/**
 * One incoming migration, under way. Await it for the final info (it is a promise of
 * `MigrationInfo`); `listening` tells where it waits, with the real port when the URI said 0.
 */
export class IncomingMigration implements PromiseLike<MigrationInfo> {
  /** Resolves once the destination waits for its source (rejects when it cannot listen). */
  readonly listening: Promise<IncomingEndpoint>;
  private readonly result: Promise<MigrationInfo>;

  /** @internal Use `MigrationSession.incoming`. */
  constructor(destination: MigrationDestination, uri: string, parameters: IncomingParameters) {
    let announce!: (endpoint: IncomingEndpoint) => void;
    let refuse!: (err: unknown) => void;
    this.listening = new Promise<IncomingEndpoint>((resolve, reject) => ((announce = resolve), (refuse = reject)));
    this.listening.catch(() => undefined);
    this.result = receive(destination, uri, parameters, announce, refuse);
    this.result.catch(() => undefined);
  }

  /** The final info once loaded; rejects with a `MigrationError` (its `reason` says why). */
  then<A = MigrationInfo, B = never>(
    onFulfilled?: ((info: MigrationInfo) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.result.then(onFulfilled, onRejected);
  }
}

/** The URI a source should use for `listener`. */
function endpointOf(listener: IncomingListener): IncomingEndpoint {
  const l = listener.listening;
  if (l === undefined) return { uri: listener.uri, address: undefined, tls: listener.tls };
  const uri = l.kind === 'tcp' ? `tcp:${formatHostPort(l.host, l.port)}` : `unix:${l.host}`;
  return { uri, address: l, tls: listener.tls };
}

async function receive(
  destination: MigrationDestination,
  uri: string,
  parameters: IncomingParameters,
  announce: (endpoint: IncomingEndpoint) => void,
  refuse: (err: unknown) => void,
): Promise<MigrationInfo> {
  const { signal } = parameters;
  let listener: IncomingListener | undefined;
  let transport: IncomingTransport | undefined;
  let multifd: IncomingMultifd | undefined;
  const onAbort = (): void => {
    transport?.shutdown();
    void listener?.close();
  };
  const channels = parameters.multifdChannels ?? 0;
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw new MigrationCancelledError('connect');
    try {
      const uuid = checkedMultifd(uri, channels, parameters.uuid);
      listener = await listenIncoming(uri, {
        connections: 1 + channels,
        connectTimeoutMs: parameters.connectTimeoutMs,
        transferTimeoutMs: parameters.transferTimeoutMs,
        tls: parameters.tls,
        listenAddress: parameters.listenAddress,
        onPeerRefused: parameters.onPeerRefused,
      });
    } catch (err) {
      refuse(err);
      throw err;
    }
    announce(endpointOf(listener));
    try {
      if (channels > 0) {
        multifd = await acceptMultifdChannels(listener, {
          channels,
          uuid: checkedMultifd(uri, channels, parameters.uuid),
          acceptTimeoutMs: parameters.multifdAcceptTimeoutMs,
          signal,
          ...(parameters.transferTimeoutMs !== undefined && { stallTimeoutMs: parameters.transferTimeoutMs }),
        });
        transport = multifd.main;
      } else {
        transport = await listener.accept();
      }
    } catch (err) {
      throw signal?.aborted ? new MigrationCancelledError('connect') : err;
    }
    const returnPath = transport.returnPath ? new ReturnPathWriter(transport.returnPath) : undefined;
    parameters.onConnected?.({ description: transport.description, peer: transport.peer, returnPath: returnPath !== undefined });
    try {
      return await destination.load(transport.reader, {
        autostart: parameters.autostart === true,
        machine: parameters.machine,
        ...(parameters.requireConfiguration !== undefined && { requireConfiguration: parameters.requireConfiguration }),
        returnPath,
        switchoverAck: parameters.switchoverAck === true,
        ...(parameters.verifyLoaded && { verifyLoaded: parameters.verifyLoaded }),
        ...(multifd !== undefined && { multifd: multifd.channels }),
        // An exec: source command's exit status after a whole stream: a warning, not a failure.
        ...(transport.finish !== undefined && { finishStream: transport.finish }),
      });
    } catch (err) {
      if (signal?.aborted && !(err instanceof MigrationCancelledError)) {
        const cancelled = new MigrationCancelledError('load-dispatch');
        if (err instanceof MigrationError) cancelled.suppressed.push(err);
        throw cancelled;
      }
      throw err;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await transport?.close().catch(() => undefined);
    await multifd?.close();
    await listener?.close().catch(() => undefined);
  }
}

/**
 * Checks the multifd options: a channel count of 0 … 255 on `tcp:`/`unix:`; returns the uuid
 * the channels must announce (all zero when none is given).
 * @throws TransportError (phase `options`)
 */
function checkedMultifd(uri: string, channels: number, uuid: string | undefined): Uint8Array {
  const refuse = (detail: string, cause?: unknown): TransportError => new TransportError({ uri, phase: 'options', detail, cause });
  if (!Number.isInteger(channels) || channels < 0 || channels > MAX_MULTIFD_CHANNELS) {
    throw refuse(`multifd channels must be 0 … ${MAX_MULTIFD_CHANNELS}, not ${channels}`);
  }
  if (channels > 0) {
    const scheme = parseMigrationUri(uri).scheme;
    if (scheme !== 'tcp' && scheme !== 'unix') throw refuse(`multifd channels need a network transport (tcp: or unix:), not ${scheme}:`);
  }
  if (uuid === undefined) return new Uint8Array(UUID_SIZE);
  try {
    return parseUuid(uuid);
  } catch (cause) {
    throw refuse((cause as Error).message, cause);
  }
}
