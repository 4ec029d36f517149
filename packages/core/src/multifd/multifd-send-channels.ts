/**
 * The source's multifd channels (docs/design/multifd.md §3–§5): RAM packets go to the
 * channel with the least queued, SYNC barriers to every channel, device-state packets to
 * whichever channel is free next. Bytes are counted against the migration's rate limit
 * (the writers share the main stream's limiter), and the first channel failure is kept and
 * names the channel.
 */
import { type QemuFileWriter } from '@savevm/stream';
import {
  MULTIFD_PAGE_SIZE,
  MULTIFD_PAGES_PER_PACKET,
  MultifdFlag,
  encodeDeviceStatePacket,
  encodeRamPacket,
} from '@savevm/stream/multifd';
import { reasonOf } from '../failure-reason.js';
import { messageOf } from '../errors.js';
import type { DeviceStateSender, MultifdRamSender, MultifdSettings } from './multifd-contract.js';
import { MultifdChannelError } from './multifd-channel-error.js';

/** What one channel has sent so far. */
export interface MultifdChannelStats {
  /** The channel's number. */
  readonly channel: number;
  /** Bytes the channel took (initial packet included). */
  readonly bytes: number;
  /** RAM packets (SYNC ones included). */
  readonly ramPackets: number;
  /** Device-state packets. */
  readonly deviceStatePackets: number;
}

/** The source side of a migration's multifd channels. */
export class MultifdSendChannels implements MultifdRamSender {
  private packetNum = 0n;
  private next = 0;
  private firstError: MultifdChannelError | undefined;
  private readonly ramPackets: number[];
  private readonly deviceStatePackets: number[];

  /**
   * @param writers one writer per channel, in channel order, the initial packet already put
   * @param settings how the migration uses the channels
   */
  constructor(
    private readonly writers: readonly QemuFileWriter[],
    readonly settings: MultifdSettings,
  ) {
    if (writers.length !== settings.channels) throw new RangeError(`${settings.channels} multifd channels, but ${writers.length} writers`);
    this.ramPackets = writers.map(() => 0);
    this.deviceStatePackets = writers.map(() => 0);
  }

  /** The first failure of any channel. */
  get error(): MultifdChannelError | undefined {
    if (this.firstError === undefined) {
      this.writers.forEach((w, channel) => {
        const e = w.error;
        if (e !== undefined && this.firstError === undefined) {
          this.firstError = new MultifdChannelError(channel, {
            phase: 'multifd',
            reason: reasonOf(e, 'CONNECT_FAILED'),
            detail: `writing failed: ${messageOf(e)}`,
            cause: e,
          });
        }
      });
    }
    return this.firstError;
  }

  /** Bytes every channel took. */
  get bytesFlushed(): number {
    let n = 0;
    for (const w of this.writers) n += w.bytesFlushed;
    return n;
  }

  /** Bytes put on the channels and not yet taken (they go out during the downtime too). */
  get bytesQueued(): number {
    let n = 0;
    for (const w of this.writers) n += w.bytesQueued;
    return n;
  }

  /** What each channel has sent. */
  stats(): MultifdChannelStats[] {
    return this.writers.map((w, channel) => ({
      channel,
      bytes: w.bytesFlushed,
      ramPackets: this.ramPackets[channel] as number,
      deviceStatePackets: this.deviceStatePackets[channel] as number,
    }));
  }

  /** The channel with the least queued (ties: the one after the last used). */
  private pick(): number {
    const n = this.writers.length;
    let best = this.next;
    let bestQueued = Infinity;
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      const queued = (this.writers[i] as QemuFileWriter).bytesQueued;
      if (queued < bestQueued) {
        best = i;
        bestQueued = queued;
      }
    }
    this.next = (best + 1) % n;
    return best;
  }

  /** {@inheritDoc MultifdRamSender.sendPages} */
  sendPages(block: string, normalOffsets: readonly number[], pageData: readonly Uint8Array[], zeroOffsets: readonly number[]): void {
    const normalPages = normalOffsets.length;
    const zeroPages = zeroOffsets.length;
    if (normalPages + zeroPages === 0) return;
    if (normalPages + zeroPages > MULTIFD_PAGES_PER_PACKET) throw new RangeError(`at most ${MULTIFD_PAGES_PER_PACKET} pages per packet`);
    if (zeroPages > 0 && !this.settings.zeroPagesInPackets) throw new RangeError('zero pages travel on the main stream in this migration');
    let dataBytes = 0;
    for (const d of pageData) dataBytes += d.length;
    if (dataBytes !== normalPages * MULTIFD_PAGE_SIZE) throw new RangeError(`${normalPages} normal pages need ${normalPages * MULTIFD_PAGE_SIZE} bytes, not ${dataBytes}`);
    const channel = this.pick();
    const w = this.writers[channel] as QemuFileWriter;
    w.putBuffer(
      encodeRamPacket({
        flags: 0,
        pagesAlloc: MULTIFD_PAGES_PER_PACKET,
        normalPages,
        zeroPages,
        nextPacketSize: dataBytes,
        packetNum: this.packetNum++,
        ramBlock: block,
        offsets: zeroPages === 0 ? normalOffsets : [...normalOffsets, ...zeroOffsets],
      }),
      'copy',
    );
    // Copied into the writer's own buffers, which it reuses once the channel took them: the
    // caller's packet buffer is free again at once, so no fresh memory is faulted in per packet.
    for (const d of pageData) w.putBuffer(d, 'copy');
    this.ramPackets[channel]!++;
  }

  /** {@inheritDoc MultifdRamSender.sync} */
  sync(): void {
    // QEMU 10.0 sends an empty packet (no slots allocated); 7.2's SYNC packet has its 128 slots.
    const pagesAlloc = this.settings.syncMode === 'flush-record' ? 0 : MULTIFD_PAGES_PER_PACKET;
    this.writers.forEach((w, channel) => {
      w.putBuffer(
        encodeRamPacket({
          flags: MultifdFlag.SYNC,
          pagesAlloc,
          normalPages: 0,
          zeroPages: 0,
          nextPacketSize: 0,
          packetNum: this.packetNum++,
          ramBlock: '',
          offsets: [],
        }),
        'copy',
      );
      w.startFlush();
      this.ramPackets[channel]!++;
    });
  }

  /** {@inheritDoc MultifdRamSender.isFull} */
  isFull(): boolean {
    if (this.error !== undefined) return true;
    for (const w of this.writers) if (!w.rateLimitExceeded()) return false;
    return true;
  }

  /** {@inheritDoc MultifdRamSender.waitForRoom} */
  async waitForRoom(): Promise<void> {
    if (!this.isFull()) return;
    await Promise.race(this.writers.map((w) => w.waitForRateLimit()));
    const error = this.error;
    if (error !== undefined) throw error;
  }

  /** Sends one device-state packet for `idstr`/`instanceId` (see {@link DeviceStateSender}). */
  async sendDeviceState(idstr: string, instanceId: number, data: Uint8Array): Promise<void> {
    while (this.isFull()) await this.waitForRoom();
    const error = this.error;
    if (error !== undefined) throw error;
    const channel = this.pick();
    const w = this.writers[channel] as QemuFileWriter;
    w.putBuffer(encodeDeviceStatePacket({ idstr, instanceId, size: data.length }), 'copy');
    w.putBuffer(data, 'copy');
    w.startFlush();
    this.deviceStatePackets[channel]!++;
  }

  /** A {@link DeviceStateSender} for one entry. */
  deviceStateSender(idstr: string, instanceId: number): DeviceStateSender {
    return { send: (data) => this.sendDeviceState(idstr, instanceId, data) };
  }

  /** Starts writing out what every channel holds. */
  startFlush(): void {
    for (const w of this.writers) w.startFlush();
  }

  /** Writes out everything; rejects with the first channel failure. */
  async flush(): Promise<void> {
    await Promise.all(this.writers.map((w) => w.flush().catch(() => undefined)));
    const error = this.error;
    if (error !== undefined) throw error;
  }

  /** Fails every channel's pending and future writes at once (cancel, failure). */
  shutdown(): void {
    for (const w of this.writers) w.shutdown();
  }
}
