/**
 * {@link VfioDataFile} over a data_fd of any {@link Syscalls} layer: the kernel's raw outcomes
 * (bytes, 0, ENOMSG, ENODEV) mapped to {@link DataReadResult}.
 */
import { Errno, VfioError, VfioSyscallError } from '../errors.js';
import { isPreCopyState } from '../uapi/fsm.js';
import type { MigState } from '../uapi/constants.js';
import type { Syscalls } from '../syscalls/syscalls.js';
import type { DataReadResult, DataSpliceSink, DataSpliceSource, VfioDataFile } from './types.js';
import { FdDataSpliceSink, FdDataSpliceSource, hasSplice, type SpliceSourceOwner } from './data-splice.js';

/** What a data file needs from the device that opened it. */
export interface DataFileOwner {
  /** Device name, for error messages. */
  readonly name: string;
  /** The device state as last known (set, read or reset), to tell "end" from "nothing yet" on a 0 read. */
  lastKnownState(): MigState | undefined;
  /** Called once when the file closes. */
  forget(file: FdDataFile): void;
}

const NO_DATA_YET: DataReadResult = { kind: 'no-data-yet' };
const END: DataReadResult = { kind: 'end' };
const SESSION_ENDED: DataReadResult = { kind: 'session-ended' };

/** A data_fd returned by SET MIG_DEVICE_STATE. */
export class FdDataFile implements VfioDataFile {
  /** Saving (read) or resuming (write). */
  readonly direction: 'saving' | 'resuming';
  /** The fd number (valid until closed). */
  readonly fd: number;
  readonly #sys: Syscalls;
  readonly #owner: DataFileOwner;
  #closed = false;
  #splice: DataSpliceSource | undefined;
  #spliceSink: DataSpliceSink | undefined;
  #spliceRefused = false;

  /** Wraps `fd`; the file owns it from now on. */
  constructor(sys: Syscalls, fd: number, direction: 'saving' | 'resuming', owner: DataFileOwner) {
    this.#sys = sys;
    this.fd = fd;
    this.direction = direction;
    this.#owner = owner;
  }

  /** Whether the file has been closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The device this file belongs to (used by the device to validate PRECOPY_INFO calls). */
  get owner(): DataFileOwner {
    return this.#owner;
  }

  /** read(2) mapped to a {@link DataReadResult}. */
  async read(into: Uint8Array): Promise<DataReadResult> {
    this.#assertOpen('read');
    const result = await this.#sys.read(this.fd, into);
    if (result > 0) return { kind: 'data', bytes: result };
    if (result === 0) {
      const state = this.#owner.lastKnownState();
      return state !== undefined && isPreCopyState(state) ? NO_DATA_YET : END;
    }
    if (result === -Errno.ENOMSG) return NO_DATA_YET;
    if (result === -Errno.ENODEV) return SESSION_ENDED;
    throw new VfioSyscallError(-result, 'read', { device: this.#owner.name, op: 'read data_fd' });
  }

  /** write(2) of all bytes, looping over short writes. */
  async write(from: Uint8Array): Promise<void> {
    this.#assertOpen('write');
    let done = 0;
    while (done < from.byteLength) {
      const result = await this.#sys.write(this.fd, from.subarray(done));
      if (result < 0) {
        throw new VfioSyscallError(-result, 'write', { device: this.#owner.name, op: 'write data_fd' });
      }
      if (result === 0) throw new VfioError('write made no progress', { device: this.#owner.name, op: 'write data_fd' });
      done += result;
    }
  }

  /**
   * The zero-copy path of a saving file: offered when the syscall layer has splice(2) and the
   * kernel has not refused FIONREAD or splice on this fd yet (a kernel VFIO data_fd does, on
   * first use; a pipe standing in for one does not).
   */
  spliceSource(): DataSpliceSource | undefined {
    if (this.#closed || this.#spliceRefused || this.direction !== 'saving') return undefined;
    const sys = this.#sys;
    if (!hasSplice(sys)) return undefined;
    this.#splice ??= new FdDataSpliceSource(sys, this.#spliceOwner());
    return this.#splice;
  }

  /** The zero-copy path into a resuming file, on the same terms as {@link spliceSource}. */
  spliceSink(): DataSpliceSink | undefined {
    if (this.#closed || this.#spliceRefused || this.direction !== 'resuming') return undefined;
    const sys = this.#sys;
    if (!hasSplice(sys)) return undefined;
    this.#spliceSink ??= new FdDataSpliceSink(sys, this.#spliceOwner());
    return this.#spliceSink;
  }

  #spliceOwner(): SpliceSourceOwner {
    return {
      fd: this.fd,
      device: this.#owner.name,
      assertOpen: (op) => this.#assertOpen(op),
      refused: () => {
        this.#spliceRefused = true;
      },
    };
  }

  /** Closes the fd (errors from close(2) are reported once, the fd is gone either way). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#owner.forget(this);
    const result = this.#sys.close(this.fd);
    if (result < 0) throw new VfioSyscallError(-result, 'close', { device: this.#owner.name, op: 'close data_fd' });
  }

  #assertOpen(op: string): void {
    if (this.#closed) throw new VfioSyscallError(Errno.EBADF, op, { device: this.#owner.name, op: `${op} data_fd (closed)` });
  }
}
