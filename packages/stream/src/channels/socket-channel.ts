import type { Duplex } from 'node:stream';
import type { ReadChannel, WriteChannel } from './channel.js';

/** Bytes a socket channel buffers before it pauses the socket (back-pressure on the peer). */
const READ_HIGH_WATER = 4 * 1024 * 1024;

/**
 * A channel on a connected stream socket (`node:net` Socket, `node:tls` TLSSocket or
 * any Duplex). Writes honour back-pressure: a write settles once the socket has taken
 * the bytes and, when its buffer was full, after it drained.
 */
export class SocketChannel implements ReadChannel, WriteChannel {
  private readonly queue: Buffer[] = [];
  /** Bytes of `queue[0]` already taken. */
  private headTaken = 0;
  private queued = 0;
  private ended = false;
  private failure: Error | undefined;
  private waiter: (() => void) | undefined;

  /** @param socket a connected duplex stream */
  constructor(readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.queued += chunk.length;
      if (this.queued >= READ_HIGH_WATER) socket.pause();
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (err: Error) => {
      this.failure ??= err;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /**
   * Writes the chunks; settles once the socket has handed the last of them to the
   * kernel (its write callback), so a writer never runs ahead of a slow peer by more
   * than the socket's own buffer.
   */
  writev(chunks: readonly Uint8Array[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.socket.destroyed || this.socket.writableEnded) {
      return Promise.reject(Object.assign(new Error('socket is closed'), { code: 'EPIPE' }));
    }
    if (chunks.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onClose = (): void => {
        reject(this.failure ?? Object.assign(new Error('socket closed during write'), { code: 'EPIPE' }));
      };
      this.socket.once('close', onClose);
      const last = chunks.length - 1;
      chunks.forEach((chunk, i) => {
        this.socket.write(
          chunk,
          i === last
            ? (err?: Error | null): void => {
                this.socket.off('close', onClose);
                if (err) reject(this.failure ?? err);
                else resolve();
              }
            : undefined,
        );
      });
    });
  }

  /** Reads what has arrived, waiting for data when none has. */
  read(into: Uint8Array): number | Promise<number> {
    if (this.queued > 0) return this.take(into);
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return 0;
    return new Promise<number>((resolve, reject) => {
      this.waiter = () => {
        if (this.queued > 0) resolve(this.take(into));
        else if (this.failure) reject(this.failure);
        else if (this.ended) resolve(0);
        else resolve(this.read(into));
      };
    });
  }

  private take(into: Uint8Array): number {
    let n = 0;
    while (n < into.length && this.queue.length > 0) {
      const head = this.queue[0] as Buffer;
      const from = this.headTaken;
      const k = Math.min(head.length - from, into.length - n);
      // Copied without a view of the chunk: a reader that takes a page at a time makes none.
      head.copy(into, n, from, from + k);
      n += k;
      if (from + k === head.length) {
        this.queue.shift();
        this.headTaken = 0;
      } else {
        this.headTaken = from + k;
      }
    }
    this.queued -= n;
    if (this.queued < READ_HIGH_WATER / 2 && this.socket.isPaused()) this.socket.resume();
    return n;
  }

  /** Ends the write side and waits for the socket to close or finish. */
  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      this.socket.end(() => resolve());
      setTimeout(resolve, 1000).unref();
    });
    this.socket.destroy();
  }

  /** Destroys the socket: pending and future reads and writes end at once. */
  shutdown(): void {
    this.failure ??= Object.assign(new Error('channel shut down'), { code: 'ESHUTDOWN' });
    this.socket.destroy();
    this.wake();
  }
}
