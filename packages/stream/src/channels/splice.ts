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
