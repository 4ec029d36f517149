/**
 * read(2) and write(2) on an emulated data session, through the armed data faults: what the
 * kernel's data_fd does (v2), and what a v1 `data_size` write hands the session.
 */
import { Errno } from '../errors.js';
import type { EmulatedSession } from './data-session-slot.js';
import type { DeviceFaults } from './faults/device-faults.js';
import { ResumeSession } from './resume-session.js';
import { SaveSession } from './save-session.js';

/** What a read answers at a temporary end of pre-copy data: ENOMSG (uAPI) or 0 (Linux 6.12 mtty). */
export type PreCopyEmptyRead = 'ENOMSG' | 'zero';

/** Data transfer on the device's sessions. */
export class SessionDataIo {
  /**
   * @param faults the device's armed faults (reads and writes)
   * @param beforeRead runs before each data read (the device's dirtying workload)
   * @param preCopyEmptyRead what a read at a temporary end answers
   */
  constructor(
    private readonly faults: DeviceFaults,
    private readonly beforeRead: () => void,
    private readonly preCopyEmptyRead: PreCopyEmptyRead,
  ) {}

  /** read(2) on a data file of `session`: bytes or −errno. */
  read(session: EmulatedSession, into: Uint8Array): number {
    // A resuming file is opened write-only: the kernel refuses the read before the driver sees it.
    if (session instanceof ResumeSession) return -Errno.EBADF;
    if (session.ended) return -Errno.ENODEV;
    const gate = this.faults.reads;
    const left = gate.remaining();
    if (left <= 0 && into.byteLength > 0) return -gate.errno;
    const view = left < into.byteLength ? into.subarray(0, left) : into;
    this.beforeRead();
    const n = session.read(view);
    gate.record(n);
    if (n === 0 && !session.final && into.byteLength > 0 && this.preCopyEmptyRead === 'ENOMSG') return -Errno.ENOMSG;
    return n;
  }

  /** write(2) on a data file of `session`: bytes or −errno. */
  write(session: EmulatedSession, from: Uint8Array): number {
    // A saving file is opened read-only: the kernel refuses the write before the driver sees it.
    if (session instanceof SaveSession) return -Errno.EBADF;
    if (session.ended) return -Errno.ENODEV;
    const gate = this.faults.writes;
    const left = gate.remaining();
    if (left <= 0 && from.byteLength > 0) return -gate.errno;
    const view = left < from.byteLength ? from.subarray(0, left) : from;
    const n = session.write(view);
    if (n > 0) gate.record(n);
    return n;
  }
}
