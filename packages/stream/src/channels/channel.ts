/**
 * The two halves a `QemuFile` sits on. Anything that can move bytes — memory, a
 * file descriptor, a socket — implements one or both.
 */

/** Where a writer's bytes go. */
export interface WriteChannel {
  /**
   * Writes every byte of `chunks`, in order. Returns `undefined` when it completed
   * synchronously, or a promise that settles once the bytes have been handed to the
   * kernel (the chunks must stay untouched until then).
   */
  writev(chunks: readonly Uint8Array[]): void | Promise<void>;
  /** Releases the channel (flushing nothing: the writer flushes first). */
  close(): Promise<void>;
  /** Makes blocked and future writes fail at once (QEMU's `qemu_file_shutdown`). */
  shutdown(): void;
}

/** Where a reader's bytes come from. */
export interface ReadChannel {
  /**
   * Reads up to `into.length` bytes into `into`; returns how many, 0 meaning end of
   * stream. May return synchronously or as a promise.
   */
  read(into: Uint8Array): number | Promise<number>;
  /** Releases the channel. */
  close(): Promise<void>;
  /** Makes blocked and future reads end at once. */
  shutdown(): void;
}

/** Receives bytes moved out of a stream (see `QemuFileReader.copyTo`). */
export interface ByteSink {
  /** Consumes `chunk` completely before returning or resolving; the chunk is reused afterwards. */
  write(chunk: Uint8Array): void | Promise<void>;
}
