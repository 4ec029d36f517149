/**
 * {@link DataSpliceSource} over a saving data_fd: FIONREAD for the bytes ready, splice(2) to
 * move them into another fd without a copy through user space, read(2) as the fallback.
 * Works where the data_fd is a pipe (or anything splice accepts as input); a kernel VFIO
 * data_fd answers FIONREAD with ENOTTY or splice with EINVAL, and the file then stops
 * offering it.
 */
import { constants } from 'node:os';
import { VfioSyscallError } from '../errors.js';
import { FIONREAD, SpliceFlags, type Syscalls } from '../syscalls/syscalls.js';
import type { DataSpliceSink, DataSpliceSource } from './types.js';

/** How often {@link FdDataSpliceSource.readyBytes} yields the CPU before answering 0. */
export const READY_YIELDS = 2;

/** errnos with which splice(2) says "not between these two fds" (nothing was moved). */
const REFUSED = new Set<number>([constants.errno.EINVAL, constants.errno.ENOSYS, constants.errno.EOPNOTSUPP]);
const EINTR = constants.errno.EINTR;
const EAGAIN = constants.errno.EAGAIN;

/** A syscall layer that has splice(2). */
export type SpliceSyscalls = Syscalls & {
  /** splice(2), guaranteed present. */
  splice: NonNullable<Syscalls['splice']>;
};

/** Whether `sys` has splice(2) (the real kernel layer does, the emulated one does not). */
export function hasSplice(sys: Syscalls): sys is SpliceSyscalls {
  return typeof sys.splice === 'function';
}

/** What the source needs from the file it belongs to. */
export interface SpliceSourceOwner {
  /** The data_fd. */
  readonly fd: number;
  /** Device name, for error messages. */
  readonly device: string;
  /** Throws EBADF when the file has been closed. */
  assertOpen(op: string): void;
  /** Called once when the kernel refuses FIONREAD or splice: the file stops offering the path. */
  refused(): void;
}

/** The splice path of one saving {@link FdDataFile}. */
export class FdDataSpliceSource implements DataSpliceSource {
  readonly #sys: SpliceSyscalls;
  readonly #owner: SpliceSourceOwner;
  readonly #count = Buffer.alloc(4);
  #refused = false;

  /** @param sys a syscall layer that has splice; @param owner the data file */
  constructor(sys: SpliceSyscalls, owner: SpliceSourceOwner) {
    this.#sys = sys;
    this.#owner = owner;
  }

  /** FIONREAD, yielding the CPU up to {@link READY_YIELDS} times while it says 0; 'unsupported' once refused. */
  readyBytes(): number | 'unsupported' {
    this.#owner.assertOpen('ioctl');
    if (this.#refused) return 'unsupported';
    for (let round = 0; ; round++) {
      const result = this.#sys.ioctl(this.#owner.fd, FIONREAD, this.#count);
      if (result < 0) return this.#refuse();
      const ready = this.#count.readInt32LE(0);
      if (ready > 0 || round >= READY_YIELDS || this.#sys.yieldCpu === undefined) return Math.max(0, ready);
      this.#sys.yieldCpu();
    }
  }

  /** splice(2) of up to `n` bytes into `fd` (SPLICE_F_MOVE | SPLICE_F_MORE). */
  spliceTo(fd: number, n: number): number | 'unsupported' {
    this.#owner.assertOpen('splice');
    for (;;) {
      const result = this.#sys.splice(this.#owner.fd, fd, n, SpliceFlags.MOVE | SpliceFlags.MORE);
      if (result >= 0) return result;
      if (result === -EINTR) continue;
      if (REFUSED.has(-result)) return this.#refuse();
      throw new VfioSyscallError(-result, 'splice', { device: this.#owner.device, op: 'splice data_fd' });
    }
  }

  #refuse(): 'unsupported' {
    this.#refused = true;
    this.#owner.refused();
    return 'unsupported';
  }

  /** read(2) into `into`; bytes read, 0 at the end. */
  async read(into: Uint8Array): Promise<number> {
    this.#owner.assertOpen('read');
    const result = await this.#sys.read(this.#owner.fd, into);
    if (result < 0) throw new VfioSyscallError(-result, 'read', { device: this.#owner.device, op: 'read data_fd' });
    return result;
  }
}

/** The splice path of one resuming {@link FdDataFile}: splice(2) from the stream's fd into the data_fd. */
export class FdDataSpliceSink implements DataSpliceSink {
  readonly #sys: SpliceSyscalls;
  readonly #owner: SpliceSourceOwner;
  #refused = false;

  /** @param sys a syscall layer that has splice; @param owner the data file */
  constructor(sys: SpliceSyscalls, owner: SpliceSourceOwner) {
    this.#sys = sys;
    this.#owner = owner;
  }

  /** splice(2) with SPLICE_F_NONBLOCK; on EAGAIN yields up to {@link READY_YIELDS} times, then 'busy'. */
  spliceFrom(fd: number, n: number): number | 'busy' | 'unsupported' {
    this.#owner.assertOpen('splice');
    if (this.#refused) return 'unsupported';
    for (let round = 0; ; ) {
      const result = this.#sys.splice(fd, this.#owner.fd, n, SpliceFlags.MOVE | SpliceFlags.MORE | SpliceFlags.NONBLOCK);
      if (result >= 0) return result;
      if (result === -EINTR) continue;
      if (result === -EAGAIN) {
        if (round >= READY_YIELDS || this.#sys.yieldCpu === undefined) return 'busy';
        round++;
        this.#sys.yieldCpu();
        continue;
      }
      if (REFUSED.has(-result)) {
        this.#refused = true;
        this.#owner.refused();
        return 'unsupported';
      }
      throw new VfioSyscallError(-result, 'splice', { device: this.#owner.device, op: 'splice into data_fd' });
    }
  }
}
