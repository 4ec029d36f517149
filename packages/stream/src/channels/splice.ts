/**
 * Zero-copy moves between file descriptors (splice(2)). This package makes no syscalls of its
 * own for them: the side that owns a spliceable fd (e.g. a VFIO data file over a pipe)
 * implements {@link SpliceSource}, and a channel on a plain fd says where the bytes may go
 * ({@link SpliceTarget}). `QemuFileWriter.spliceFrom` joins the two.
 */

/** Bytes the kernel can move into a file descriptor without a copy through user space. */
export interface SpliceSource {
  /**
   * Moves up to `n` bytes into `fd` at its current position; returns how many (0: the source
   * ended), or 'unsupported' when the kernel refuses this pair of fds (nothing was moved).
   */
  spliceTo(fd: number, n: number): number | 'unsupported';
  /** Plain read into `into` (the fallback); bytes read, 0 at the end. */
  read(into: Uint8Array): number | Promise<number>;
}

/** A write channel on a plain fd that spliced bytes may be written to directly. */
export interface SpliceTarget {
  /**
   * The fd to splice into, or undefined when the channel cannot take spliced bytes now (async
   * mode, shut down). Bytes spliced into it must follow everything written through the channel.
   */
  spliceTarget(): number | undefined;
}

/** Whether a channel offers {@link SpliceTarget}. */
export function isSpliceTarget(channel: object): channel is SpliceTarget {
  return typeof (channel as Partial<SpliceTarget>).spliceTarget === 'function';
}

/** A read channel on a plain fd whose bytes a sink may splice out directly. */
export interface SpliceInput {
  /**
   * The fd to splice from (its position is the stream's next unbuffered byte), or undefined
   * when the channel cannot give bytes that way now (async mode, shut down).
   */
  spliceInput(): number | undefined;
}

/** Whether a channel offers {@link SpliceInput}. */
export function isSpliceInput(channel: object): channel is SpliceInput {
  return typeof (channel as Partial<SpliceInput>).spliceInput === 'function';
}

/**
 * A byte sink that can take bytes straight from an fd (splice(2) into its own fd).
 * `'busy'`: nothing moved because the sink cannot take bytes without blocking now (write the
 * next chunk the plain way); `'unsupported'`: the kernel refuses this pair (plain from now on).
 */
export interface SpliceSink {
  /** Moves up to `n` bytes from `fd` into the sink; bytes moved (0: `fd` ended). */
  spliceFrom(fd: number, n: number): number | 'busy' | 'unsupported';
}
