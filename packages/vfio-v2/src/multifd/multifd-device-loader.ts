/**
 * The destination's side of one device's state on the multifd channels (QEMU
 * `vfio_multifd_load_state_buffer` and `vfio_load_bufs_thread`; docs/design/multifd.md §4):
 * each packet's header is checked and its buffer queued by index; the load work, started at
 * SWITCHOVER_START, writes the buffers into the data_fd in index order, then applies the
 * config state through the same path as the FULL section's.
 */
import type { EntryRef, LoadStateBufferContext, SwitchoverStartContext } from '@savevm/core';
import { errnoNameOf, reasonOf } from '@savevm/core';
import { MemoryReadChannel, QemuFileReader } from '@savevm/stream';
import { VfioTag } from '@savevm/vfio';
import type { DeviceMigrationState } from '../migration-state.js';
import { traceVfio } from '../tracing.js';
import {
  VFIO_DEVICE_STATE_CONFIG_STATE,
  VFIO_DEVICE_STATE_HEADER_SIZE,
  VFIO_DEVICE_STATE_PACKET_VERSION,
  readVfioDeviceStateHeader,
} from './device-state-packet.js';
import { VfioMultifdError } from './multifd-error.js';
import { StateBufferQueue, type QueuedStateBuffer } from './state-buffer-queue.js';

/** What the multifd loader needs beyond the device. */
export interface MultifdDeviceLoaderOptions {
  /** Most payload bytes queued at once (the device's `maxQueuedBuffersSize`). */
  readonly maxQueuedBytes: number;
  /** Reads the config state after DEV_CONFIG_STATE, up to and including END_OF_STATE (the FULL section's path). */
  readonly loadConfig: (f: QemuFileReader) => Promise<void>;
  /** Told the device bytes each buffer brought. */
  readonly onLoaded?: (bytes: number) => void;
}

/** One device's buffers from the channels, between `loadSetup` and `loadCleanup`. */
export class MultifdDeviceLoader {
  /** The reorder queue. */
  readonly queue: StateBufferQueue;
  #started = false;
  #received = false;

  /** @param state the device; @param entry its entry, for errors; @param options cap and config path */
  constructor(
    private readonly state: DeviceMigrationState,
    private readonly entry: EntryRef,
    private readonly options: MultifdDeviceLoaderOptions,
  ) {
    this.queue = new StateBufferQueue({ device: state.name, maxQueuedBytes: options.maxQueuedBytes, entry });
  }

  /** Whether the load work was started (SWITCHOVER_START arrived). */
  get started(): boolean {
    return this.#started;
  }

  /** Whether any device-state packet came for this device. */
  get received(): boolean {
    return this.#received;
  }

  /** Whether every buffer and the config state were loaded. */
  get finished(): boolean {
    return this.queue.finished;
  }

  /**
   * `load_state_buffer`: checks the packet header in QEMU's order and queues the buffer.
   * @throws VfioMultifdError too short, unknown version, invalid index, or what the queue refuses
   */
  async loadStateBuffer(packet: Uint8Array, context?: LoadStateBufferContext): Promise<void> {
    const device = this.state.name;
    this.#received = true;
    if (packet.byteLength < VFIO_DEVICE_STATE_HEADER_SIZE) {
      throw this.#refuse('too-short', undefined, `${device}: packet too short at ${packet.byteLength} (min is ${VFIO_DEVICE_STATE_HEADER_SIZE})`);
    }
    const header = readVfioDeviceStateHeader(packet);
    if (header.version !== VFIO_DEVICE_STATE_PACKET_VERSION) {
      throw this.#refuse('unknown-version', header.index, `${device}: packet has unknown version ${header.version}`);
    }
    const last = (header.flags & VFIO_DEVICE_STATE_CONFIG_STATE) !== 0;
    await this.queue.put(header.index, packet.subarray(VFIO_DEVICE_STATE_HEADER_SIZE), last, context ? () => context.release() : undefined);
  }

  /**
   * `switchover_start`: starts the load work through the core (it is waited for after EOF).
   * @throws VfioMultifdError when the core gave no way to start it
   */
  start(context: SwitchoverStartContext | undefined): void {
    if (context === undefined) {
      throw this.#refuse('not-loaded', undefined, `${this.state.name}: SWITCHOVER_START without a way to start the load of the multifd buffers`, 'INTERNAL');
    }
    if (this.#started) return;
    this.#started = true;
    context.startLoadThread((signal) => this.queue.drain((buffer) => this.#load(buffer), signal));
  }

  /** Drops what is queued (the load ended). */
  close(): void {
    this.queue.close();
  }

  async #load(buffer: QueuedStateBuffer): Promise<void> {
    if (buffer.last) {
      // Not released: the config state's loaders may keep views of its bytes.
      await this.#applyConfig(buffer);
      return;
    }
    const device = this.state.name;
    const dataFile = this.state.dataFile;
    if (dataFile === undefined || dataFile.closed) {
      throw this.#refuse('write-failed', buffer.index, `${device}: writing state buffer ${buffer.index} failed: no resume data_fd`, 'DEVICE_FAILED', 'EBADF');
    }
    try {
      if (buffer.data.byteLength > 0) await dataFile.write(buffer.data);
    } catch (cause) {
      const errno = errnoNameOf(cause);
      throw new VfioMultifdError({
        device,
        phase: 'multifd',
        entry: this.entry,
        refusal: 'write-failed',
        index: buffer.index,
        detail: `${device}: writing state buffer ${buffer.index} failed: ${errno ?? (cause instanceof Error ? cause.message : String(cause))}`,
        reason: reasonOf(cause, 'DEVICE_FAILED'),
        errno: errno ?? 'EIO',
        cause,
      });
    }
    buffer.release?.();
    this.options.onLoaded?.(buffer.data.byteLength);
    traceVfio('vfio_load_state_device_data', { device, dataSize: buffer.data.byteLength });
  }

  /** The config buffer: DEV_CONFIG_STATE first, then the FULL section's path (which requires END_OF_STATE), then nothing. */
  async #applyConfig(buffer: QueuedStateBuffer): Promise<void> {
    const device = this.state.name;
    const f = new QemuFileReader(new MemoryReadChannel(buffer.data));
    const tag = buffer.data.byteLength >= 8 ? await f.getBe64('DEV_CONFIG_STATE') : undefined;
    if (tag !== VfioTag.DEV_CONFIG_STATE) {
      const got = tag === undefined ? `${buffer.data.byteLength} bytes` : tag.toString(16);
      throw this.#refuse('bad-config-state', buffer.index, `${device}: expected FLAG_DEV_CONFIG_STATE but got ${got}`);
    }
    try {
      await this.options.loadConfig(f);
    } catch (cause) {
      if (cause instanceof VfioMultifdError) throw cause;
      throw new VfioMultifdError({
        device,
        phase: 'multifd',
        entry: this.entry,
        refusal: 'bad-config-state',
        index: buffer.index,
        detail: `${device}: loading the config state (buffer ${buffer.index}) failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        reason: reasonOf(cause, 'BAD_STREAM'),
        errno: errnoNameOf(cause) ?? 'EINVAL',
        cause,
      });
    }
    if (!(await f.isAtEnd())) {
      throw this.#refuse('bad-config-state', buffer.index, `${device}: ${buffer.data.byteLength - f.offset} bytes after END_OF_STATE in the config state buffer ${buffer.index}`);
    }
  }

  #refuse(refusal: VfioMultifdError['refusal'], index: number | undefined, detail: string, reason: VfioMultifdError['reason'] = 'BAD_STREAM', errno = 'EINVAL'): VfioMultifdError {
    return new VfioMultifdError({ device: this.state.name, phase: 'multifd', entry: this.entry, refusal, index, detail, reason, errno });
  }
}
