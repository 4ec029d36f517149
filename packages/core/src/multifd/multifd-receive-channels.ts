/**
 * The destination's multifd channels (docs/design/multifd.md §3–§5): one read loop per
 * channel. RAM packets are checked as QEMU checks them and written straight into the block
 * memory; SYNC packets stop their channel until the main stream's barrier lets every channel
 * go on; device-state packets go to their entry's `loadStateBuffer`. The first failure names
 * the channel, stops every loop, and is handed to the run so the main stream stops too.
 */
import { type QemuFileReader, StreamError } from '@savevm/stream';
import {
  MULTIFD_DEVICE_STATE_PACKET_SIZE,
  MULTIFD_HEADER_SIZE,
  MULTIFD_PAGE_SIZE,
  MULTIFD_RAM_PACKET_SIZE,
  MultifdFlag,
  decodeDeviceStatePacket,
  decodeRamPacket,
  readMultifdHeader,
} from '@savevm/stream/multifd';
import { isPromiseLike } from '../maybe-promise.js';
import { MigrationError, messageOf } from '../errors.js';
import { reasonOf } from '../failure-reason.js';
import type { SaveStateEntry } from '../registry/save-state-entry.js';
import type { MultifdRamReceiver, MultifdRamTarget, MultifdSettings } from './multifd-contract.js';
import { MultifdChannelError } from './multifd-channel-error.js';
import { PayloadBufferPool } from './payload-buffer-pool.js';

/** Most bytes one device-state packet may carry (QEMU's VFIO sends 1 MiB at most); larger is refused. */
export const MAX_DEVICE_STATE_PACKET_BYTES = 64 * 1024 * 1024;

/**
 * Bytes read into memory at a time for a device-state payload: memory grows only with bytes
 * that arrived, beyond this much per channel. Large enough that QEMU's 1 MiB buffer with its
 * 12-byte VFIO header arrives in one allocation (no second one to join two chunks).
 */
const PAYLOAD_CHUNK = 4 * 1024 * 1024;

/** Most bytes of released payload buffers kept for reuse (the rest go to the garbage collector). */
const MAX_FREE_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** What the receiver works with. */
export interface MultifdReceiveOptions {
  /** How many channels and whether device state may arrive on them. */
  readonly settings: Pick<MultifdSettings, 'channels' | 'deviceState'>;
  /** Whether RAM packets carry the zero_pages field (true for QEMU 10.0 and savevm; 7.2 leaves it 0 anyway). */
  readonly zeroPagesField?: boolean;
  /**
   * Longest time a barrier may wait on a channel that brings no byte, ms (0: forever): a
   * stalled channel then fails the migration naming it.
   */
  readonly stallTimeoutMs?: number;
}

/** What one channel has received so far. */
export interface MultifdReceiveStats {
  /** The channel's number. */
  readonly channel: number;
  /** Bytes read after the initial packet. */
  readonly bytes: number;
  /** Whether the source closed it. */
  readonly closed: boolean;
}

interface ChannelState {
  readonly reader: QemuFileReader;
  syncs: number;
  closed: boolean;
}

/** The destination side of a migration's multifd channels. */
export class MultifdReceiveChannels implements MultifdRamReceiver {
  /** How many channels and whether device state may arrive on them. */
  readonly settings: Pick<MultifdSettings, 'channels' | 'deviceState'>;
  private readonly channels: ChannelState[];
  private ramTarget: MultifdRamTarget | undefined;
  private released = 0;
  private firstError: MigrationError | undefined;
  private wake: (() => void)[] = [];
  private loops: Promise<void>[] = [];
  private readonly allClosedController = new AbortController();
  private failureListener: ((error: MigrationError) => void) | undefined;
  private findEntry: (idstr: string, instanceId: number) => SaveStateEntry | undefined = () => undefined;
  private stopping = false;
  private readonly payloads = new PayloadBufferPool(MAX_FREE_PAYLOAD_BYTES);

  /**
   * @param readers one reader per channel, in channel order, after the initial packet
   * @param options settings, entry lookup, limits
   */
  constructor(
    readers: readonly QemuFileReader[],
    private readonly options: MultifdReceiveOptions,
  ) {
    this.settings = options.settings;
    if (readers.length !== options.settings.channels) throw new RangeError(`${options.settings.channels} multifd channels, but ${readers.length} readers`);
    this.channels = readers.map((reader) => ({ reader, syncs: 0, closed: false }));
  }

  /** The first failure of any channel. */
  get error(): MigrationError | undefined {
    return this.firstError;
  }

  /** Aborts once every channel has closed (no more device state can come) or one failed. */
  get noMoreInput(): AbortSignal {
    return this.allClosedController.signal;
  }

  /** What each channel has received. */
  stats(): MultifdReceiveStats[] {
    return this.channels.map((c, channel) => ({ channel, bytes: c.reader.offset, closed: c.closed }));
  }

  /**
   * Starts every channel's read loop: `findEntry` finds the local entry of a device-state
   * packet, and `onFailure` hears the first failure once.
   */
  start(findEntry: (idstr: string, instanceId: number) => SaveStateEntry | undefined, onFailure: (error: MigrationError) => void): void {
    this.findEntry = findEntry;
    this.failureListener = onFailure;
    this.loops = this.channels.map((c, i) =>
      this.readLoop(c, i).catch((err: unknown) => {
        if (!this.stopping) this.fail(i, err);
      }),
    );
  }

  /** {@inheritDoc MultifdRamReceiver.setRamTarget} */
  setRamTarget(target: MultifdRamTarget): void {
    this.ramTarget = target;
  }

  /** {@inheritDoc MultifdRamReceiver.syncMain} */
  async syncMain(): Promise<void> {
    const target = this.released + 1;
    const stall = this.options.stallTimeoutMs ?? 0;
    let lastBytes = this.totalWaitedBytes(target);
    let lastProgress = Date.now();
    for (;;) {
      if (this.firstError) throw this.firstError;
      const waiting = this.channels.findIndex((c) => c.syncs < target);
      if (waiting < 0) break;
      const c = this.channels[waiting] as ChannelState;
      if (c.closed) {
        throw this.fail(waiting, new MultifdChannelError(waiting, { phase: 'multifd', reason: 'TRUNCATED', detail: 'closed by the source before its SYNC', errno: 'EIO' }));
      }
      await this.nextEvent(stall > 0 ? Math.min(stall, 1000) : 0);
      if (stall > 0) {
        const bytes = this.totalWaitedBytes(target);
        if (bytes !== lastBytes) {
          lastBytes = bytes;
          lastProgress = Date.now();
        } else if (Date.now() - lastProgress >= stall) {
          throw this.fail(
            waiting,
            new MultifdChannelError(waiting, {
              phase: 'multifd',
              reason: 'TIMEOUT',
              detail: `stalled: no byte for ${stall} ms while the main stream waits for its SYNC`,
              errno: 'ETIMEDOUT',
            }),
          );
        }
      }
    }
    this.released = target;
    this.notify();
  }

  /** Stops every loop (the load ended) and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const c of this.channels) c.reader.shutdown();
    this.notify();
    await Promise.all(this.loops);
  }

  // ---- one channel --------------------------------------------------------------------

  private async readLoop(c: ChannelState, channel: number): Promise<void> {
    const r = c.reader;
    const head = Buffer.allocUnsafe(MULTIFD_RAM_PACKET_SIZE);
    for (;;) {
      if (this.firstError || this.stopping) return;
      if (await r.isAtEnd()) {
        c.closed = true;
        this.channelClosed();
        return;
      }
      const at = r.offset;
      await r.readInto(head.subarray(0, MULTIFD_HEADER_SIZE), 'a multifd packet header');
      const flags = readMultifdHeader(head, at, channel);
      if ((flags & MultifdFlag.DEVICE_STATE) !== 0) {
        await r.readInto(head.subarray(MULTIFD_HEADER_SIZE, MULTIFD_DEVICE_STATE_PACKET_SIZE), 'a device-state packet');
        await this.receiveDeviceState(r, head.subarray(0, MULTIFD_DEVICE_STATE_PACKET_SIZE), at, channel);
        continue;
      }
      await r.readInto(head.subarray(MULTIFD_HEADER_SIZE, MULTIFD_RAM_PACKET_SIZE), 'a multifd RAM packet');
      await this.receiveRam(r, head, at, channel);
      if ((flags & MultifdFlag.SYNC) !== 0) {
        c.syncs++;
        this.notify();
        while (this.released < c.syncs && !this.firstError && !this.stopped(c)) await this.nextEvent(0);
      }
    }
  }

  private stopped(c: ChannelState): boolean {
    return this.stopping || c.reader.error !== undefined;
  }

  /** A RAM packet: every offset checked first, then the normal pages read into memory and the zero ones filled. */
  private async receiveRam(r: QemuFileReader, bytes: Buffer, at: number, channel: number): Promise<void> {
    const packet = decodeRamPacket(bytes, at, { zeroPagesField: this.options.zeroPagesField ?? true });
    const pages = packet.normalPages + packet.zeroPages;
    if (pages === 0) return;
    const target = this.ramTarget;
    const memory = target?.blockBytes(packet.ramBlock);
    if (memory === undefined) {
      throw new MultifdChannelError(channel, { phase: 'multifd', reason: 'BAD_STREAM', detail: `multifd: unknown ram block ${packet.ramBlock}`, offset: at + 64, errno: 'EINVAL' });
    }
    const max = memory.length - MULTIFD_PAGE_SIZE;
    for (let i = 0; i < pages; i++) {
      const offset = packet.offsets[i] as number;
      if (offset > max) {
        throw new MultifdChannelError(channel, {
          phase: 'multifd',
          reason: 'BAD_STREAM',
          detail: `multifd: offset too long ${offset} (max ${max.toString(16)})`,
          offset: at + 320 + 8 * i,
          errno: 'EINVAL',
        });
      }
    }
    // Pages at consecutive offsets are read as one run, straight into guest memory.
    for (let i = 0; i < packet.normalPages; ) {
      const start = packet.offsets[i] as number;
      let end = start + MULTIFD_PAGE_SIZE;
      for (i++; i < packet.normalPages && packet.offsets[i] === end; i++) end += MULTIFD_PAGE_SIZE;
      await r.readInto(memory.subarray(start, end), 'a multifd page');
    }
    for (let i = packet.normalPages; i < pages; i++) {
      const offset = packet.offsets[i] as number;
      memory.fill(0, offset, offset + MULTIFD_PAGE_SIZE);
    }
    target?.pagesLoaded?.(packet.normalPages, packet.zeroPages);
  }

  /** A device-state packet: its payload read as it arrives (never allocated from the size field alone), then handed to the entry. */
  private async receiveDeviceState(r: QemuFileReader, bytes: Buffer, at: number, channel: number): Promise<void> {
    const packet = decodeDeviceStatePacket(bytes, at);
    const refuse = (detail: string, offset = at): MultifdChannelError =>
      new MultifdChannelError(channel, { phase: 'multifd', reason: 'BAD_STREAM', detail, offset, errno: 'EINVAL', entry: { idstr: packet.idstr, instanceId: packet.instanceId } });
    if (!this.settings.deviceState) throw refuse(`${packet.idstr}: got device state packet but not doing multifd transfer`);
    if (packet.size > MAX_DEVICE_STATE_PACKET_BYTES) {
      throw refuse(`device state packet of ${packet.size} bytes is larger than the limit of ${MAX_DEVICE_STATE_PACKET_BYTES}`, at + 272);
    }
    const entry = this.findEntry(packet.idstr, packet.instanceId);
    if (entry === undefined) throw refuse(`Unknown idstr ${packet.idstr} or instance id ${packet.instanceId} for load state buffer`);
    const hook = entry.handlers.loadStateBuffer;
    if (hook === undefined) throw refuse(`idstr ${packet.idstr} / instance ${packet.instanceId} has no load state buffer operation`);
    const { data, release } = await this.readPayload(r, packet.size);
    const context = { release };
    try {
      const result = hook.call(entry.handlers, data, entry, context);
      if (isPromiseLike(result)) await result;
    } catch (err) {
      throw new MultifdChannelError(channel, {
        phase: 'multifd',
        reason: reasonOf(err, 'DEVICE_FAILED'),
        detail: messageOf(err),
        entry: { idstr: entry.idstr, instanceId: entry.instanceId },
        hook: 'loadStateBuffer',
        offset: at,
        cause: err,
      });
    }
  }

  /**
   * A payload of `size` bytes read in full, and what gives its memory back: up to
   * {@link PAYLOAD_CHUNK} into a reused buffer, which `release` returns to the pool; larger
   * ones chunk by chunk as they arrive (memory never grows ahead of the bytes), left to the
   * garbage collector.
   */
  private async readPayload(r: QemuFileReader, size: number): Promise<{ data: Buffer; release: () => void }> {
    if (size <= PAYLOAD_CHUNK) {
      const data = this.payloads.take(size);
      await r.readInto(data, 'a device state payload');
      return { data, release: this.payloads.releaserOf(data) };
    }
    const chunks: Buffer[] = [];
    for (let left = size; left > 0; ) {
      const chunk = Buffer.allocUnsafe(Math.min(left, PAYLOAD_CHUNK));
      await r.readInto(chunk, 'a device state payload');
      chunks.push(chunk);
      left -= chunk.length;
    }
    return { data: Buffer.concat(chunks), release: () => undefined };
  }

  // ---- events and failure -------------------------------------------------------------

  private totalWaitedBytes(target: number): number {
    let n = 0;
    for (const c of this.channels) if (c.syncs < target) n += c.reader.offset;
    return n;
  }

  private channelClosed(): void {
    if (this.channels.every((c) => c.closed)) this.allClosedController.abort(new Error('every multifd channel has closed'));
    this.notify();
  }

  private notify(): void {
    const waiters = this.wake;
    this.wake = [];
    for (const w of waiters) w();
  }

  /** Resolves at the next channel event (a SYNC, a release, a close, a failure), or after `ms` when > 0. */
  private nextEvent(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake.push(resolve);
      if (ms > 0) setTimeout(resolve, ms).unref();
    });
  }

  /** Keeps the first failure, stops every channel, tells the run; returns the error kept. */
  private fail(channel: number, err: unknown): MigrationError {
    if (this.firstError === undefined) {
      this.firstError = err instanceof MigrationError ? err : this.describe(channel, err);
      for (const c of this.channels) c.reader.shutdown();
      if (!this.allClosedController.signal.aborted) this.allClosedController.abort(this.firstError);
      this.notify();
      this.failureListener?.(this.firstError);
    }
    return this.firstError;
  }

  private describe(channel: number, err: unknown): MultifdChannelError {
    if (err instanceof StreamError) {
      return new MultifdChannelError(channel, {
        phase: 'multifd',
        reason: reasonOf(err, err.code === 'TRUNCATED' ? 'TRUNCATED' : 'BAD_STREAM'),
        detail: err.detail,
        offset: err.offset,
        cause: err,
      });
    }
    return new MultifdChannelError(channel, { phase: 'multifd', reason: reasonOf(err, 'INTERNAL'), detail: messageOf(err), cause: err });
  }
}
