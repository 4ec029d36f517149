import * as fs from 'node:fs';
import type { ReadChannel, WriteChannel } from './channel.js';
import type { SpliceInput, SpliceTarget } from './splice.js';

/**
 * How a file-descriptor channel does its I/O: `sync` calls read/writev on the
 * event-loop thread (fastest; right for regular files and character devices, which
 * never block for long), `async` goes through libuv's thread pool (right for pipes
 * and sockets, which may block indefinitely).
 */
export type FdIoMode = 'sync' | 'async';

/** Picks the I/O mode for a descriptor from what `fstat` says it is. */
export function defaultFdIoMode(fd: number): FdIoMode {
  const st = fs.fstatSync(fd);
  return st.isFile() || st.isCharacterDevice() || st.isBlockDevice() ? 'sync' : 'async';
}

function isAgain(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Drops the first `n` bytes from a list of chunks (after a partial write). */
function advance(chunks: readonly Uint8Array[], n: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = n;
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
    skip = 0;
  }
  return rest;
}

function totalLength(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

/** Linux's IOV_MAX: writev takes at most this many chunks per call. */
const IOV_MAX = 1024;

/** A channel on an open file descriptor; does not own the descriptor unless told to. */
export class FdChannel implements ReadChannel, WriteChannel, SpliceTarget, SpliceInput {
  private stopped = false;
  /** The I/O mode in use. */
  readonly mode: FdIoMode;

  /**
   * @param fd an open descriptor
   * @param options.mode I/O mode (default: from `fstat`, see {@link defaultFdIoMode})
   * @param options.ownsFd close the descriptor in `close()` (default false)
   */
  constructor(
    readonly fd: number,
    private readonly options: { mode?: FdIoMode; ownsFd?: boolean } = {},
  ) {
    this.mode = options.mode ?? defaultFdIoMode(fd);
  }

  /** Writes all chunks, retrying partial writes. */
  writev(chunks: readonly Uint8Array[]): void | Promise<void> {
    if (this.stopped) throw Object.assign(new Error('channel shut down'), { code: 'ESHUTDOWN' });
    if (this.mode === 'sync') {
      this.writevSync(chunks);
      return undefined;
    }
    return this.writevAsync(chunks);
  }

  private writevSync(chunks: readonly Uint8Array[]): void {
    let pending: readonly Uint8Array[] = chunks;
    let remaining = totalLength(pending);
    while (remaining > 0) {
      const batch = pending.length > IOV_MAX ? pending.slice(0, IOV_MAX) : pending;
      let written: number;
      try {
        written = fs.writevSync(this.fd, batch as Uint8Array[]);
      } catch (err) {
        if (isAgain(err)) continue;
        throw err;
      }
      remaining -= written;
      if (remaining > 0) pending = advance(pending, written);
    }
  }

  private async writevAsync(chunks: readonly Uint8Array[]): Promise<void> {
    let pending: readonly Uint8Array[] = chunks;
    let remaining = totalLength(pending);
    while (remaining > 0) {
      if (this.stopped) throw Object.assign(new Error('channel shut down'), { code: 'ESHUTDOWN' });
      const batch = pending.length > IOV_MAX ? pending.slice(0, IOV_MAX) : pending;
      let written: number;
      try {
        written = await new Promise<number>((resolve, reject) =>
          fs.writev(this.fd, batch as Uint8Array[], (err, n) => (err ? reject(err) : resolve(n))),
        );
      } catch (err) {
        if (isAgain(err)) {
          await sleep(1);
          continue;
        }
        throw err;
      }
      remaining -= written;
      if (remaining > 0) pending = advance(pending, written);
    }
  }

  /**
   * The fd, for splice(2) into it, in sync mode (where the channel already blocks the thread
   * on writes); undefined in async mode or once shut down.
   */
  spliceTarget(): number | undefined {
    return this.mode === 'sync' && !this.stopped ? this.fd : undefined;
  }

  /** The fd, for splice(2) out of it, in sync mode; undefined in async mode or once shut down. */
  spliceInput(): number | undefined {
    return this.mode === 'sync' && !this.stopped ? this.fd : undefined;
  }

  /** Reads up to `into.length` bytes from the current position. */
  read(into: Uint8Array): number | Promise<number> {
    if (this.stopped) return 0;
    if (this.mode === 'sync') {
      for (;;) {
        try {
          return fs.readSync(this.fd, into, 0, into.length, null);
        } catch (err) {
          if (!isAgain(err)) throw err;
          return this.readAsync(into);
        }
      }
    }
    return this.readAsync(into);
  }

  private async readAsync(into: Uint8Array): Promise<number> {
    for (;;) {
      if (this.stopped) return 0;
      try {
        return await new Promise<number>((resolve, reject) =>
          fs.read(this.fd, into, 0, into.length, null, (err, n) => (err ? reject(err) : resolve(n))),
        );
      } catch (err) {
        if (!isAgain(err)) throw err;
        await sleep(1);
      }
    }
  }

  /** Closes the descriptor if this channel owns it. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.options.ownsFd) fs.closeSync(this.fd);
  }

  /** Makes later reads see end of stream and later writes fail. */
  shutdown(): void {
    this.stopped = true;
  }
}

/** Opens a path as a channel that owns its descriptor. */
export function openFileChannel(path: string, direction: 'read' | 'write', mode?: FdIoMode): FdChannel {
  const fd = fs.openSync(path, direction === 'read' ? 'r' : 'w');
  try {
    return new FdChannel(fd, { ownsFd: true, ...(mode ? { mode } : {}) });
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}
