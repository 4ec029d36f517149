/**
 * The source's whole migration to a URI: connect, run core's source driver over the
 * connection with QEMU's return path, end the stream, close everything — and reject unless
 * the destination has the state (see `docs/embedding-in-a-vmm.md`).
 */
import {
  DEFAULT_STREAM_COMPAT,
  MigrationCancelledError,
  type MigrationInfo,
  type MigrationParameters,
  type MigrationSource,
  multifdSettingsFor,
} from '@savevm/core';
import { UUID_SIZE, parseUuid } from '@savevm/stream/multifd';
import { type OutgoingMultifd, openMultifdChannels } from '../transport/multifd-outgoing.js';
import { type OutgoingTransport, openOutgoing } from '../transport/outgoing.js';
import { ReturnPathReader } from '../transport/return-path.js';
import { TransportError } from '../transport/transport-error.js';
import type { MigrateParameters } from './session-options.js';
import { explainSilentDestination } from './silent-destination.js';
import { verdictWayOf } from './verdict-way.js';

/** Runs one outgoing migration with `source` to `uri`. */
export async function migrateToUri(source: MigrationSource, uri: string, parameters: MigrateParameters): Promise<MigrationInfo> {
  const {
    signal,
    returnPath: wantReturnPath,
    switchoverAck,
    connectTimeoutMs,
    transferTimeoutMs,
    tls,
    tlsServerName,
    queueCap,
    onConnected,
    multifdChannels,
    uuid,
    ...core
  } = parameters;
  if (signal?.aborted) throw new MigrationCancelledError('connect');
  // Busy or blocked: refused before anything connects, as QEMU's migrate_prepare does.
  const refusal = source.refusal();
  if (refusal) throw refusal;
  const settings = multifdChannels === undefined || multifdChannels === 0 ? undefined : checkedSettings(uri, core.streamCompat, multifdChannels);
  const uuidBytes = settings === undefined ? undefined : checkedUuid(uri, uuid);
  // Before connecting: a migration that could end without the destination's verdict is refused.
  const verdict = verdictWayOf(uri, { returnPath: wantReturnPath, switchoverAck });
  const transportOptions = { connectTimeoutMs, transferTimeoutMs, tls, tlsServerName, queueCap };
  const transport = await connect(uri, transportOptions, signal);
  let closing: Promise<void> | undefined;
  let reader: ReturnPathReader | undefined;
  const close = (): Promise<void> => (closing ??= transport.close());
  let multifd: OutgoingMultifd | undefined;
  try {
    if (settings !== undefined && uuidBytes !== undefined) {
      multifd = await openMultifdChannels(uri, settings, uuidBytes, transportOptions, transport.writer.rateLimiter);
    }
    reader = verdict === 'return-path' ? returnPathOf(uri, transport) : undefined;
    onConnected?.({ description: transport.description, peer: transport.peer, returnPath: reader !== undefined });
    const full: Partial<MigrationParameters> = {
      ...core,
      returnPath: reader,
      switchoverAck: switchoverAck === true ? reader : undefined,
    };
    const onAbort = (): void => void source.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // A file or a command consuming the stream has no return path: its own end (the close
      // of the file, the command's exit status) is the verdict, and it comes before COMPLETED
      // (docs/design/return-path.md, "Transports without a way back").
      return await source.migrate(transport.writer, full, {
        ...(reader === undefined && { finishStream: close }),
        ...(multifd !== undefined && { multifd: multifd.channels }),
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  } catch (err) {
    transport.shutdown();
    multifd?.shutdown();
    // A plaintext source whose destination never answered: said as a TLS mismatch (phase tls).
    throw await explainSilentDestination(err, {
      uri,
      tls: tls !== undefined,
      bytesReceived: reader?.bytesReceived,
      multifdChannels: settings?.channels ?? 0,
    });
  } finally {
    await close().catch(() => undefined);
    await multifd?.close();
  }
}

/** The reader of the connection's return path (a socket: it has one). */
function returnPathOf(uri: string, transport: OutgoingTransport): ReturnPathReader {
  if (transport.returnPath === undefined) {
    throw new TransportError({ uri, phase: 'connect', detail: 'the connection has no way back for the return path' });
  }
  return new ReturnPathReader(transport.returnPath);
}

/** The channels' settings for the stream this source writes. */
function checkedSettings(uri: string, compat: MigrationParameters['streamCompat'] | undefined, channels: number): ReturnType<typeof multifdSettingsFor> {
  try {
    return multifdSettingsFor(compat ?? DEFAULT_STREAM_COMPAT, channels);
  } catch (cause) {
    throw new TransportError({ uri, phase: 'options', detail: (cause as Error).message, cause });
  }
}

/** The uuid the channels announce (all zero when none is given). */
function checkedUuid(uri: string, uuid: string | undefined): Uint8Array {
  if (uuid === undefined) return new Uint8Array(UUID_SIZE);
  try {
    return parseUuid(uuid);
  } catch (cause) {
    throw new TransportError({ uri, phase: 'options', detail: (cause as Error).message, cause });
  }
}

/** Opens the transport; an abort while connecting cancels. */
async function connect(
  uri: string,
  options: Pick<MigrateParameters, 'connectTimeoutMs' | 'transferTimeoutMs' | 'tls' | 'tlsServerName' | 'queueCap'>,
  signal: AbortSignal | undefined,
): Promise<OutgoingTransport> {
  const opening = openOutgoing(uri, options);
  if (signal === undefined) return opening;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new MigrationCancelledError('connect'));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([opening, aborted]);
  } catch (err) {
    // A connection that completes after the abort is closed at once.
    void opening.then((t) => (t.shutdown(), t.close())).catch(() => undefined);
    throw err;
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
