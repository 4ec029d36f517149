/**
 * The source's multifd connections (docs/design/multifd.md §2): N more connections to the
 * destination's address (with TLS when the main one has it), each opened by its 64-byte
 * initial packet. Their writers share the main stream's rate limiter.
 */
import { MultifdChannelError, MultifdSendChannels, type MultifdSettings } from '@savevm/core';
import { DEFAULT_QUEUE_CAP, type RateLimiter } from '@savevm/stream';
import { encodeMultifdInit } from '@savevm/stream/multifd';
import { type OutgoingTransport, openOutgoing } from './outgoing.js';
import type { OutgoingOptions } from './transport-options.js';
import { parseMigrationUri } from './migration-uri.js';
import { TransportError } from './transport-error.js';

/** The least queue cap of one channel. */
const MIN_CHANNEL_QUEUE_CAP = 1024 * 1024;

/** The source's open multifd connections. */
export interface OutgoingMultifd {
  /** The channels, for core's source driver. */
  readonly channels: MultifdSendChannels;
  /** Closes every connection (after the driver flushed them). */
  close(): Promise<void>;
  /** Fails pending and future writes on every connection at once. */
  shutdown(): void;
}

/**
 * Opens `settings.channels` connections to `uri` and puts each one's initial packet
 * (`uuid`, its channel id). The main stream's queue cap is shared out among them (at least
 * 1 MiB each), and their bytes count against `rateLimiter`.
 * @throws TransportError (phase `options`) for a transport other than `tcp:`/`unix:`, or the
 *   first connection's failure, naming the channel; every connection opened is closed then
 */
export async function openMultifdChannels(
  uri: string,
  settings: MultifdSettings,
  uuid: Uint8Array,
  options: OutgoingOptions,
  rateLimiter: RateLimiter,
): Promise<OutgoingMultifd> {
  const scheme = parseMigrationUri(uri).scheme;
  if (scheme !== 'tcp' && scheme !== 'unix') {
    throw new TransportError({ uri, phase: 'options', detail: `multifd channels need a network transport (tcp: or unix:), not ${scheme}:` });
  }
  const queueCap = Math.max(MIN_CHANNEL_QUEUE_CAP, (options.queueCap ?? DEFAULT_QUEUE_CAP) / settings.channels);
  const opening = Array.from({ length: settings.channels }, (_, channel) =>
    openOutgoing(uri, { ...options, queueCap, rateLimiter }).catch((err: unknown) => {
      throw new MultifdChannelError(channel, {
        phase: 'multifd',
        reason: err instanceof TransportError ? err.reason : 'CONNECT_FAILED',
        detail: `cannot open: ${err instanceof Error ? err.message : String(err)}`,
        cause: err,
      });
    }),
  );
  const results = await Promise.allSettled(opening);
  const transports = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await closeAll(transports, true);
    throw failed.reason;
  }
  transports.forEach((t, channel) => {
    t.writer.putBuffer(encodeMultifdInit({ uuid, channelId: channel }), 'copy');
    t.writer.startFlush();
  });
  return {
    channels: new MultifdSendChannels(
      transports.map((t) => t.writer),
      settings,
    ),
    close: () => closeAll(transports, false),
    shutdown: () => {
      for (const t of transports) t.shutdown();
    },
  };
}

async function closeAll(transports: readonly OutgoingTransport[], shutdown: boolean): Promise<void> {
  if (shutdown) for (const t of transports) t.shutdown();
  await Promise.all(transports.map((t) => t.close().catch(() => undefined)));
}
