/**
 * The reorder queue of one device's incoming state buffers (QEMU `load_bufs` with 10.1's
 * `x-migration-max-queued-buffers-size`; docs/design/multifd.md §4). Buffers arrive in any
 * order from any channel; {@link StateBufferQueue.drain} hands them to the device strictly in
 * index order, waiting for missing ones, and ends with the config-state buffer.
 *
 * The cap counts payload bytes (as QEMU does) from the moment a buffer is queued until the
 * device has taken it. A buffer is queued only when the bytes held plus its own stay within
 * the cap, so memory never exceeds it. When it would not fit, {@link StateBufferQueue.put}
 * waits while the load can free bytes without it (the load runs and its next buffer is
 * there or being written): that is back-pressure on the channel, never a deadlock.
 * Otherwise — the next buffer is missing, or the load has not started — the buffer is
 * refused in QEMU's words ("queuing state buffer %u would exceed the size max of %u").
 */
import type { EntryRef, MigrationErrorReason } from '@savevm/core';
import { VFIO_DEVICE_STATE_INVALID_INDEX } from './device-state-packet.js';
import { VfioMultifdError, type VfioMultifdRefusal } from './multifd-error.js';

/** One queued buffer. */
export interface QueuedStateBuffer {
  /** Its index. */
  readonly index: number;
  /** Its payload (after the packet header). */
  readonly data: Uint8Array;
  /** Whether it is the config state, the last buffer. */
  readonly last: boolean;
  /** Gives the payload's memory back to the channels once the device has taken it (see `LoadStateBufferContext`). */
  readonly release?: (() => void) | undefined;
}

/** What a queue is built with. */
export interface StateBufferQueueOptions {
  /** The device name, which every refusal starts with. */
  readonly device: string;
  /** Most payload bytes held at once (queued, or being loaded). */
  readonly maxQueuedBytes: number;
  /** The save-state entry, for errors. */
  readonly entry?: EntryRef | undefined;
}

/** One device's buffers between the channels and the device. */
export class StateBufferQueue {
  readonly #buffers = new Map<number, QueuedStateBuffer>();
  /** Indexes whose `put` waits for room (a duplicate of one is refused too). */
  readonly #waiting = new Set<number>();
  #next = 0;
  #last: number | undefined;
  #highest = -1;
  #queued = 0;
  #peak = 0;
  #loading = false;
  /** Payload bytes of the buffer being loaded. */
  #inFlight = 0;
  #draining = false;
  #finished = false;
  #closed = false;
  #wakers: (() => void)[] = [];

  /** @param options device name, cap, entry */
  constructor(private readonly options: StateBufferQueueOptions) {
    if (!Number.isSafeInteger(options.maxQueuedBytes) || options.maxQueuedBytes < 1) {
      throw new RangeError(`maxQueuedBytes must be a positive integer, not ${options.maxQueuedBytes}`);
    }
  }

  /** Payload bytes held now (queued, or being loaded). */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** The most payload bytes held at any time. */
  get peakQueuedBytes(): number {
    return this.#peak;
  }

  /** The index the load takes next. */
  get nextIndex(): number {
    return this.#next;
  }

  /** The config state's index, once its buffer arrived. */
  get lastIndex(): number | undefined {
    return this.#last;
  }

  /** Whether any buffer was queued or taken. */
  get received(): boolean {
    return this.#highest >= 0;
  }

  /** Whether {@link drain} took the config state (every buffer loaded). */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Queues one buffer, waiting for room while the load can make some. `release`, if given,
   * travels with the buffer, for the load to call once the device has taken it.
   * @throws VfioMultifdError for an invalid index, a duplicate, an index already loaded, an
   *   index past the config state's, a second config state, or a buffer that does not fit
   */
  async put(index: number, data: Uint8Array, last: boolean, release?: () => void): Promise<void> {
    this.#checkFresh(index, last);
    const size = data.byteLength;
    if (this.#queued + size <= this.options.maxQueuedBytes) {
      this.#store(index, data, last, release);
      return;
    }
    this.#waiting.add(index);
    this.#highest = Math.max(this.#highest, index);
    try {
      while (this.#queued + size > this.options.maxQueuedBytes) {
        if (this.#closed) throw this.#refuse('not-loaded', index, `${this.options.device}: state buffer ${index} arrived after the load ended`);
        if (!this.#canFree()) {
          throw this.#refuse(
            'queue-full',
            index,
            `${this.options.device}: queuing state buffer ${index} would exceed the size max of ${this.options.maxQueuedBytes}`,
            'INTERNAL',
            'ENOMEM',
          );
        }
        await this.#event();
      }
      if (this.#closed) throw this.#refuse('not-loaded', index, `${this.options.device}: state buffer ${index} arrived after the load ended`);
      if (last && this.#last !== undefined) throw this.#secondConfig(index);
      if (!last && this.#last !== undefined && index > this.#last) throw this.#pastConfig(index, this.#last);
    } finally {
      this.#waiting.delete(index);
    }
    this.#store(index, data, last, release);
  }

  /**
   * Hands the buffers to `load` in index order, one at a time, until the config state's
   * buffer was loaded. When `signal` aborts, the buffers already queued are still loaded
   * (they are in memory, within the cap), and the first missing one fails the load.
   * @throws VfioMultifdError `missing-buffer` naming the index that never arrived; or what `load` threw
   */
  async drain(load: (buffer: QueuedStateBuffer) => Promise<void>, signal: AbortSignal): Promise<void> {
    if (this.#draining || this.#finished) throw new Error(`${this.options.device}: the state buffers are loaded once`);
    this.#draining = true;
    const onAbort = (): void => this.#wake();
    signal.addEventListener('abort', onAbort);
    this.#wake();
    try {
      for (;;) {
        const buffer = await this.#nextBuffer(signal);
        this.#buffers.delete(buffer.index);
        this.#next = buffer.index + 1;
        this.#loading = true;
        this.#inFlight = buffer.data.byteLength;
        try {
          await load(buffer);
        } finally {
          this.#loading = false;
          this.#queued -= this.#inFlight;
          this.#inFlight = 0;
          this.#wake();
        }
        if (buffer.last) {
          this.#finished = true;
          return;
        }
      }
    } finally {
      this.#draining = false;
      signal.removeEventListener('abort', onAbort);
      this.#wake();
    }
  }

  /** Drops every buffer and refuses later ones (the load ended). */
  close(): void {
    this.#closed = true;
    this.#buffers.clear();
    this.#queued = this.#inFlight;
    this.#wake();
  }

  // ---- rules --------------------------------------------------------------------------

  /** The checks QEMU makes when a buffer is inserted, plus the ones it asserts. */
  #checkFresh(index: number, last: boolean): void {
    const device = this.options.device;
    if (this.#closed) throw this.#refuse('not-loaded', index, `${device}: state buffer ${index} arrived after the load ended`);
    if (!Number.isInteger(index) || index < 0 || index >= VFIO_DEVICE_STATE_INVALID_INDEX) {
      throw this.#refuse('invalid-index', index, `${device}: packet index is invalid`);
    }
    if (this.#buffers.has(index) || this.#waiting.has(index)) throw this.#refuse('already-filled', index, `${device}: state buffer ${index} already filled`);
    if (index < this.#next) {
      throw this.#refuse('already-loaded', index, `${device}: state buffer ${index} already loaded (the load is at buffer ${this.#next})`);
    }
    if (last && this.#last !== undefined) throw this.#secondConfig(index);
    if (last && index < this.#highest) {
      throw this.#refuse('past-config-state', index, `${device}: config state buffer ${index} comes before state buffer ${this.#highest}`);
    }
    if (!last && this.#last !== undefined && index > this.#last) throw this.#pastConfig(index, this.#last);
  }

  #secondConfig(index: number): VfioMultifdError {
    return this.#refuse('past-config-state', index, `${this.options.device}: config state buffer ${index} after the config state buffer ${String(this.#last)}`);
  }

  #pastConfig(index: number, last: number): VfioMultifdError {
    return this.#refuse('past-config-state', index, `${this.options.device}: state buffer ${index} is past the config state buffer ${last}`);
  }

  #refuse(
    refusal: VfioMultifdRefusal,
    index: number,
    detail: string,
    reason: MigrationErrorReason = 'BAD_STREAM',
    errno = 'EINVAL',
  ): VfioMultifdError {
    return new VfioMultifdError({ device: this.options.device, phase: 'multifd', refusal, index, detail, entry: this.options.entry, reason, errno });
  }

  // ---- the queue ----------------------------------------------------------------------

  #store(index: number, data: Uint8Array, last: boolean, release: (() => void) | undefined): void {
    this.#buffers.set(index, { index, data, last, release });
    this.#queued += data.byteLength;
    this.#peak = Math.max(this.#peak, this.#queued);
    this.#highest = Math.max(this.#highest, index);
    if (last) this.#last = index;
    this.#wake();
  }

  /** Whether bytes will be freed without any new buffer: the load runs, and writes or has its next buffer. */
  #canFree(): boolean {
    return this.#draining && (this.#loading || this.#buffers.has(this.#next));
  }

  async #nextBuffer(signal: AbortSignal): Promise<QueuedStateBuffer> {
    for (;;) {
      const buffer = this.#buffers.get(this.#next);
      if (buffer !== undefined) return buffer;
      if (this.#closed || signal.aborted) {
        throw this.#refuse(
          'missing-buffer',
          this.#next,
          `${this.options.device}: state buffer ${this.#next} never arrived${this.#closed ? ' (the load ended)' : ''}`,
          'TRUNCATED',
          'EIO',
        );
      }
      await this.#event();
    }
  }

  #event(): Promise<void> {
    return new Promise((resolve) => this.#wakers.push(resolve));
  }

  #wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const w of wakers) w();
  }
}
