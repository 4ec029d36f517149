/**
 * The destination's multifd connections (docs/design/multifd.md §2): the listener takes the
 * main connection and one per channel, in any order. A connection whose first 4 bytes are
 * QEMU's file magic (`QEVM`) is the main stream; any other must open with a valid initial
 * packet: the right magic and version, this destination's uuid, a channel id below the
 * channel count and not seen before — checked as QEMU checks it, in its words.
 */
import { MigrationError, MultifdChannelError, MultifdReceiveChannels, type MultifdReceiveOptions } from '@savevm/core';
import { QEMU_VM_FILE_MAGIC, type QemuFileReader, StreamError } from '@savevm/stream';
import {
  MULTIFD_INIT_PACKET_SIZE,
  decodeMultifdInit,
  formatUuid,
  type MultifdInitPacket,
} from '@savevm/stream/multifd';
import type { IncomingListener, IncomingTransport } from './incoming.js';

/** The longest wait for every channel once the first connection came, when not told (ms). */
export const DEFAULT_MULTIFD_ACCEPT_TIMEOUT_MS = 30_000;

/** The destination's accepted connections. */
export interface IncomingMultifd {
  /** The main stream. */
  readonly main: IncomingTransport;
  /** The channels, for core's destination driver. */
  readonly channels: MultifdReceiveChannels;
  /** Closes the channel connections (not the main one). */
  close(): Promise<void>;
}

/** What {@link acceptMultifdChannels} needs. */
export interface AcceptMultifdOptions extends Omit<MultifdReceiveOptions, 'settings'> {
  /** The channel count this destination expects. */
  readonly channels: number;
  /** This destination's uuid (every channel must carry it). */
  readonly uuid: Uint8Array;
  /** Longest wait for all connections after the first, ms. */
  readonly acceptTimeoutMs?: number | undefined;
  /** Stops waiting. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Takes the main connection and `channels` more from `listener`, in any order, and checks
 * each channel's initial packet. Loading starts only when all are there, as in QEMU.
 * @throws MigrationError (phase `multifd`) naming the channel when one is refused, or when
 *   they do not all come within the timeout; every connection taken is closed then
 */
export async function acceptMultifdChannels(listener: IncomingListener, options: AcceptMultifdOptions): Promise<IncomingMultifd> {
  const count = options.channels;
  const accepted: IncomingTransport[] = [];
  const byId: (QemuFileReader | undefined)[] = new Array(count).fill(undefined);
  const transportsById: (IncomingTransport | undefined)[] = new Array(count).fill(undefined);
  let main: IncomingTransport | undefined;
  const timeoutMs = options.acceptTimeoutMs ?? DEFAULT_MULTIFD_ACCEPT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const missing = byId.flatMap((r, id) => (r === undefined ? [String(id)] : []));
      const what = [...(main === undefined ? ['the main stream'] : []), ...(missing.length > 0 ? [`channel ${missing.join(', ')}`] : [])];
      reject(
        new MigrationError({
          phase: 'multifd',
          reason: 'TIMEOUT',
          detail: `${what.join(' and ')} did not arrive within ${timeoutMs} ms (the source must open ${count} multifd channels: is multifd on there with the same count?)`,
          errno: 'ETIMEDOUT',
        }),
      );
    }, timeoutMs);
  });
  deadline.catch(() => undefined);
  const onAbort = (): void => void listener.close();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (let taken = 0; taken <= count; taken++) {
      const t = await Promise.race([listener.accept(), deadline]);
      accepted.push(t);
      const first = await Promise.race([t.reader.peek(4), deadline]);
      if (first.readUInt32BE(0) === QEMU_VM_FILE_MAGIC) {
        if (main !== undefined) throw refuse(undefined, 'a second main stream (QEVM) arrived among the multifd channels');
        main = t;
        continue;
      }
      const packet = await Promise.race([readInit(t.reader), deadline]);
      const id = packet.channelId;
      if (!sameBytes(packet.uuid, options.uuid)) {
        throw refuse(id, `multifd: received uuid '${formatUuid(packet.uuid)}' and expected uuid '${formatUuid(options.uuid)}' for channel ${id}`);
      }
      if (id >= count) throw refuse(id, `multifd: received channel id ${id} is greater than number of channels ${count}`);
      if (byId[id] !== undefined) throw refuse(id, `multifd: received id '${id}' already setup'`);
      byId[id] = t.reader;
      transportsById[id] = t;
    }
  } catch (err) {
    await Promise.all(accepted.map((t) => (t.shutdown(), t.close().catch(() => undefined))));
    throw err;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  const channels = transportsById as IncomingTransport[];
  return {
    main: main as IncomingTransport,
    channels: new MultifdReceiveChannels(byId as QemuFileReader[], {
      settings: { channels: count, deviceState: true },
      ...(options.zeroPagesField !== undefined && { zeroPagesField: options.zeroPagesField }),
      ...(options.stallTimeoutMs !== undefined && { stallTimeoutMs: options.stallTimeoutMs }),
    }),
    close: async () => {
      await Promise.all(channels.map((t) => t.close().catch(() => undefined)));
    },
  };
}

/** Reads and decodes an initial packet; a bad magic or version becomes a refusal. */
async function readInit(reader: QemuFileReader): Promise<MultifdInitPacket> {
  const bytes = await reader.getBytes(MULTIFD_INIT_PACKET_SIZE, 'a multifd initial packet');
  try {
    return decodeMultifdInit(bytes);
  } catch (err) {
    throw refuse(undefined, err instanceof StreamError ? err.detail : String(err), err);
  }
}

function refuse(channel: number | undefined, detail: string, cause?: unknown): MigrationError {
  const init = { phase: 'multifd' as const, reason: 'BAD_STREAM' as const, detail, errno: 'EINVAL', cause };
  return channel === undefined ? new MigrationError(init) : new MultifdChannelError(channel, init);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
