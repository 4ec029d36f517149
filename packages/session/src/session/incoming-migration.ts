/**
 * The destination's whole migration from a URI: listen (or open), take the first source
 * that authenticates, run core's destination driver with QEMU's return path, tell the
 * source how the load ended, close everything.
 */
import { MigrationCancelledError, MigrationError, type MigrationDestination, type MigrationInfo } from '@savevm/core';
import { formatHostPort } from '../transport/migration-uri.js';
import { type IncomingListener, type IncomingTransport, listenIncoming } from '../transport/incoming.js';
import { ReturnPathWriter } from '../transport/return-path.js';
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
  const onAbort = (): void => {
    transport?.shutdown();
    void listener?.close();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw new MigrationCancelledError('connect');
    try {
      listener = await listenIncoming(uri, {
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
      transport = await listener.accept();
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
    await listener?.close().catch(() => undefined);
  }
}
