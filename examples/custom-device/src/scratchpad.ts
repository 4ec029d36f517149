/**
 * Step 1 of the template: the device itself, with no migration code at all.
 *
 * A "scratchpad" is a small memory the guest writes into, plus a few registers. Two
 * things make it a realistic migration subject:
 * - its memory is large enough that you want to send it while the VM still runs
 *   (live, iteratively), so it tracks which pages the guest dirtied since they were sent;
 * - its registers are small, plain values: they are sent once, with the VM stopped,
 *   described declaratively (see `scratchpad-registers.ts`).
 */

/** The `control` bits the device defines; the others are reserved (must be 0). */
export const CONTROL_VALID_BITS = 0xff;

/** `status` bit: the device hit a fault; `faultAddress` is then meaningful. */
export const STATUS_FAULT = 0x1;

/** The register file. Plain data: the declarative description lays it out on the wire. */
export interface ScratchpadRegisters {
  /** Control register (guest-written). */
  control: number;
  /** Status register (device-written); bit 0 is {@link STATUS_FAULT}. */
  status: number;
  /** Interrupt mask; added in version 2 of the device (older streams leave it at its reset value). */
  irqMask: number;
  /** Number of guest writes since reset (a 64-bit counter, so a bigint). */
  writes: bigint;
  /** Bytes used in `label`. */
  labelLength: number;
  /** A guest-chosen label of up to {@link MAX_LABEL_BYTES} bytes. */
  label: Uint8Array;
  /** Address of the last fault; only sent when the status says there is one. */
  faultAddress: number;
}

/** Longest label. The description refuses a longer one, so a stream cannot make us allocate more. */
export const MAX_LABEL_BYTES = 32;

/** Register values after reset. */
export function resetRegisters(): ScratchpadRegisters {
  return { control: 0, status: 0, irqMask: 0xffff, writes: 0n, labelLength: 0, label: new Uint8Array(0), faultAddress: 0 };
}

/** How a scratchpad is built. */
export interface ScratchpadOptions {
  /** A name that identifies the device in the VM, like a qdev path (becomes part of the idstr). */
  readonly id: string;
  /** Number of pages (default 64). */
  readonly pageCount?: number;
  /** Page size in bytes (default 256). */
  readonly pageSize?: number;
}

/** The device: memory with per-page dirty tracking, and registers. */
export class Scratchpad {
  /** The device's identity in the VM. */
  readonly id: string;
  /** Page size in bytes. */
  readonly pageSize: number;
  /** Number of pages. */
  readonly pageCount: number;
  /** The memory. */
  readonly memory: Buffer;
  /** The registers. */
  registers: ScratchpadRegisters = resetRegisters();
  /** One byte per page: 1 = written since it was last sent. */
  private readonly dirty: Uint8Array;
  private dirtyPages = 0;
  private tracking = false;

  /** @param options id and geometry */
  constructor(options: ScratchpadOptions) {
    this.id = options.id;
    this.pageSize = options.pageSize ?? 256;
    this.pageCount = options.pageCount ?? 64;
    this.memory = Buffer.alloc(this.pageSize * this.pageCount);
    this.dirty = new Uint8Array(this.pageCount);
  }

  /** A guest write: copies `data` at `offset`, counts it, and marks the pages it touched dirty. */
  write(offset: number, data: Uint8Array): void {
    if (offset < 0 || offset + data.length > this.memory.length) throw new RangeError(`write of ${data.length} bytes at ${offset} is outside the memory`);
    this.memory.set(data, offset);
    this.registers.writes++;
    if (!this.tracking || data.length === 0) return;
    const last = Math.floor((offset + data.length - 1) / this.pageSize);
    for (let page = Math.floor(offset / this.pageSize); page <= last; page++) this.markDirty(page);
  }

  /** Starts dirty tracking with every page dirty (nothing has been sent yet). */
  startDirtyTracking(): void {
    this.tracking = true;
    for (let page = 0; page < this.pageCount; page++) this.markDirty(page);
  }

  /** Stops dirty tracking and forgets the dirty pages. */
  stopDirtyTracking(): void {
    this.tracking = false;
    this.dirty.fill(0);
    this.dirtyPages = 0;
  }

  /** Pages written since they were last taken. */
  get dirtyPageCount(): number {
    return this.dirtyPages;
  }

  /** Takes (and clears) up to `max` dirty pages, lowest first. */
  takeDirtyPages(max: number): number[] {
    const pages: number[] = [];
    for (let page = 0; page < this.pageCount && pages.length < max; page++) {
      if (this.dirty[page] === 0) continue;
      this.dirty[page] = 0;
      this.dirtyPages--;
      pages.push(page);
    }
    return pages;
  }

  /** The bytes of one page (a view into the memory). */
  page(index: number): Buffer {
    return this.memory.subarray(index * this.pageSize, (index + 1) * this.pageSize);
  }

  /** `id`, for messages. */
  toString(): string {
    return `scratchpad ${this.id}`;
  }

  private markDirty(page: number): void {
    if (this.dirty[page] === 1) return;
    this.dirty[page] = 1;
    this.dirtyPages++;
  }
}
