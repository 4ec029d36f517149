/**
 * Guest pages gathered into multifd RAM packets on the source (docs/design/multifd.md §3):
 * up to 128 pages of one block per packet, normal pages copied into the packet's data (so
 * a guest write racing with the send is caught by the dirty log, as on the main stream),
 * zero pages as offsets only when the migration sends them in packets (QEMU 10.0).
 */
import type { MultifdRamSender } from '@savevm/core';
import type { RamBlock } from './ram-block.js';
import { TARGET_PAGE_SIZE } from './ram-constants.js';

/** Pages one packet holds. */
const PAGES_PER_PACKET = 128;

/** The packet being filled, sent when full, when the block changes, or on {@link MultifdPagePacker.flush}. */
export class MultifdPagePacker {
  private block: RamBlock | undefined;
  private readonly data = Buffer.allocUnsafeSlow(PAGES_PER_PACKET * TARGET_PAGE_SIZE);
  private normal: number[] = [];
  private zero: number[] = [];

  /** @param channels where packets go */
  constructor(private readonly channels: MultifdRamSender) {}

  /** Adds the page at byte `offset` of `block`; `isZero` says it is all zeros (and the migration sends zero pages in packets). */
  add(block: RamBlock, offset: number, isZero: boolean): void {
    if (block !== this.block || this.normal.length + this.zero.length === PAGES_PER_PACKET) {
      this.flush();
      this.block = block;
    }
    if (isZero) {
      this.zero.push(offset);
      return;
    }
    block.bytes.copy(this.data, this.normal.length * TARGET_PAGE_SIZE, offset, offset + TARGET_PAGE_SIZE);
    this.normal.push(offset);
  }

  /** Sends the packet being filled, if it holds a page. */
  flush(): void {
    const block = this.block;
    const pages = this.normal.length + this.zero.length;
    if (block === undefined || pages === 0) return;
    const data = this.normal.length === 0 ? [] : [this.data.subarray(0, this.normal.length * TARGET_PAGE_SIZE)];
    // The channels copy the data into buffers they reuse, so this one is filled again at once
    // (a fresh 512 KiB buffer per packet cost ~128 page faults each).
    this.channels.sendPages(block.idstr, this.normal, data, this.zero);
    this.normal = [];
    this.zero = [];
  }
}
