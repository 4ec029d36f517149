/**
 * The live device: guest RAM with hand-written `SaveVMHandlers`. Every page is sent while the
 * VM runs, then the pages the guest wrote since, round after round, and the rest with the VM
 * stopped.
 *
 * Each section body is a list of tagged records ending in END:
 * `CONFIG be32 pageCount be32 pageSize` (in SECTION_START), `PAGE be32 index, pageSize bytes`.
 */
import { MigrationError, type PendingBytes, type SaveVMHandlers } from '@savevm/core';
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';

/** The page size, bytes. */
export const RAM_PAGE_SIZE = 4096;

/** The record tags of the RAM sections. */
export const RamTag = {
  /** The end of a section body. */
  END: 0,
  /** The RAM's geometry, so the destination can refuse a RAM of another size. */
  CONFIG: 1,
  /** One page. */
  PAGE: 2,
} as const;

/** A refusal of what the stream holds (reason BAD_STREAM; the driver adds the entry and hook). */
function badStream(detail: string): MigrationError {
  return new MigrationError({ phase: 'load-state', reason: 'BAD_STREAM', detail });
}

/** Guest RAM of `pageCount` pages, migrated live. */
export class GuestRam implements SaveVMHandlers {
  /** The RAM's size in pages. */
  readonly pageCount: number;
  /** The RAM's bytes. */
  readonly bytes: Buffer;
  /** Pages written since they were last sent (only while a migration tracks them). */
  private readonly dirty = new Set<number>();
  private tracking = false;

  /** @param pageCount the RAM's size in pages; @param fill the byte it starts filled with */
  constructor(pageCount: number, fill: number) {
    this.pageCount = pageCount;
    this.bytes = Buffer.alloc(pageCount * RAM_PAGE_SIZE, fill);
  }

  /** A guest write of one byte (the dirty page is remembered while a migration runs). */
  write(offset: number, value: number): void {
    this.bytes[offset] = value;
    if (this.tracking) this.dirty.add(Math.floor(offset / RAM_PAGE_SIZE));
  }

  /** VM running: start tracking; every page is still to send. */
  saveSetup(f: QemuFileWriter): void {
    this.tracking = true;
    for (let page = 0; page < this.pageCount; page++) this.dirty.add(page);
    f.putU8(RamTag.CONFIG);
    f.putBe32(this.pageCount);
    f.putBe32(RAM_PAGE_SIZE);
    f.putU8(RamTag.END);
  }

  /** What is left: the driver switches over once it fits in the downtime limit. */
  statePendingEstimate(): PendingBytes {
    return { mustPrecopy: this.dirty.size * RAM_PAGE_SIZE, canPostcopy: 0 };
  }

  /** VM running: dirty pages until the rate limit says stop; true when none is left for now. */
  saveLiveIterate(f: QemuFileWriter): boolean {
    for (const page of this.dirty) {
      if (f.rateLimitExceeded()) break;
      this.putPage(f, page);
    }
    f.putU8(RamTag.END);
    return this.dirty.size === 0;
  }

  /** VM stopped: every page still dirty. */
  saveLiveCompletePrecopy(f: QemuFileWriter): void {
    for (const page of this.dirty) this.putPage(f, page);
    f.putU8(RamTag.END);
  }

  /** Always runs once at the end, whatever the outcome. */
  saveCleanup(): void {
    this.tracking = false;
    this.dirty.clear();
  }

  /** Reads one section body; the stream is input, so every index and size is checked. */
  async loadState(f: QemuFileReader): Promise<void> {
    for (;;) {
      const tag = await f.getU8('a RAM record tag');
      switch (tag) {
        case RamTag.END:
          return;
        case RamTag.CONFIG: {
          const pageCount = await f.getBe32();
          const pageSize = await f.getBe32();
          if (pageCount !== this.pageCount || pageSize !== RAM_PAGE_SIZE) {
            throw badStream(`RAM of ${pageCount} × ${pageSize} bytes in the stream, ${this.pageCount} × ${RAM_PAGE_SIZE} here`);
          }
          break;
        }
        case RamTag.PAGE: {
          const page = await f.getBe32();
          if (page >= this.pageCount) throw badStream(`RAM page ${page} is outside the ${this.pageCount} pages`);
          await f.readInto(this.bytes.subarray(page * RAM_PAGE_SIZE, (page + 1) * RAM_PAGE_SIZE), 'a RAM page');
          break;
        }
        default:
          throw badStream(`unknown RAM record tag ${tag}`);
      }
    }
  }

  /** Sends one page and forgets that it was dirty; 'copy' because the guest may write it again. */
  private putPage(f: QemuFileWriter, page: number): void {
    this.dirty.delete(page);
    f.putU8(RamTag.PAGE);
    f.putBe32(page);
    f.putBuffer(this.bytes.subarray(page * RAM_PAGE_SIZE, (page + 1) * RAM_PAGE_SIZE), 'copy');
  }
}
