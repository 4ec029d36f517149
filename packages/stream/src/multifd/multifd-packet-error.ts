/**
 * The error every multifd packet decoder raises: QEMU's own words, with the byte offset on
 * the channel where the packet began.
 */
import { StreamFormatError } from '../errors.js';

/** A multifd packet that QEMU would refuse (bad magic, version, counts, names or flags). */
export class MultifdPacketError extends StreamFormatError {
  /** @param offset byte offset of the packet on its channel; @param detail what is wrong, in QEMU's words */
  constructor(offset: number, detail: string) {
    super('BAD_MULTIFD_PACKET', offset, detail);
  }
}
