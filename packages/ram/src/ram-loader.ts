/**
 * The destination side of the `ram` section: reads records up to EOS, checks them as QEMU
 * does (10.0's rules, docs/design/ram-section.md §5) and writes pages straight into the
 * block memory.
 */
import type { MultifdRamReceiver, MultifdSyncMode } from '@savevm/core';
import { RamFlag, type QemuFileReader } from '@savevm/stream';
import type { GuestRam } from './guest-ram.js';
import type { RamBlock } from './ram-block.js';
import { TARGET_PAGE_SIZE } from './ram-constants.js';
import { RamLoadError, type RamLoadErrorCode } from './ram-errors.js';
import { zeroPageTest, type ZeroPageTest } from './zero-page.js';

/** How the destination side checks the stream. */
export interface RamLoaderOptions {
  /**
   * Both sides must agree on the block list (default true): a local block missing from the
   * stream's MEM_SIZE list, a second list, or a page before any list is refused. False
   * accepts these as QEMU does (docs/design/ram-section.md §5).
   */
  readonly strictBlockList?: boolean;
}

/** What the destination side has loaded so far in this migration. */
export interface RamLoadStats {
  /** PAGE records written into memory. */
  pages: number;
  /** ZERO records. */
  zeroPages: number;
  /** Sections read. */
  sections: number;
  /** Pages that arrived on multifd channels (normal and zero). */
  multifdPages: number;
}

const TWO_32 = 2 ** 32;
/** Largest `hi` word of an offset that is still a safe integer. */
const SAFE_HI = 0x200000;
const PAGE_KINDS = RamFlag.ZERO | RamFlag.PAGE | RamFlag.XBZRLE;
const PAGE_MASK64 = ~0xfffn;

/** `%x` of a 64-bit value given as two 32-bit halves (QEMU's RAM_ADDR_FMT). */
function hex64(hi: number, lo: number): string {
  return hi === 0 ? lo.toString(16) : hi.toString(16) + lo.toString(16).padStart(8, '0');
}

/** A block name read from the stream: the lookup key (bytes up to a NUL, as C's strcmp sees them) and a printable form. */
interface StreamName {
  readonly key: string;
  readonly text: string;
}

/**
 * Reads `ram` section bodies into a {@link GuestRam}'s blocks. {@link setup} forgets the
 * last received block; {@link loadSection} reads one body up to its EOS.
 */
export class RamLoader {
  /** What was loaded so far. */
  readonly stats: RamLoadStats = { pages: 0, zeroPages: 0, sections: 0, multifdPages: 0 };
  private multifd: MultifdRamReceiver | undefined;
  /** Where the source puts its barriers: known at the first MULTIFD_FLUSH, or at the first EOS without one. */
  private syncMode: MultifdSyncMode | undefined;
  private readonly strict: boolean;
  private byKey = new Map<string, RamBlock>();
  private zeroTests = new Map<RamBlock, ZeroPageTest>();
  private lastReceived: RamBlock | undefined;
  private listed = new Set<RamBlock>();
  private sawBlockList = false;
  private migrating = false;

  /** @param ram the blocks to load into */
  constructor(
    readonly ram: GuestRam,
    options: RamLoaderOptions = {},
  ) {
    this.strict = options.strictBlockList ?? true;
  }

  /**
   * Starts a load: takes the block list as it is now, no block received yet. With multifd
   * channels, their RAM packets are written into the blocks too.
   */
  setup(multifd?: MultifdRamReceiver): void {
    this.multifd = multifd;
    this.syncMode = undefined;
    multifd?.setRamTarget({
      blockBytes: (name) => {
        const block = this.ram.blocks.find((b) => b.idstr === name);
        return block?.bytes.subarray(0, block.usedLength);
      },
      pagesLoaded: (normal, zero) => {
        this.stats.pages += normal;
        this.stats.zeroPages += zero;
        this.stats.multifdPages += normal + zero;
      },
    });
    if (!this.migrating) this.ram.beginMigration();
    this.migrating = true;
    this.byKey = new Map(this.ram.blocks.map((b) => [b.key, b]));
    this.zeroTests = new Map(this.ram.blocks.map((b) => [b, zeroPageTest(b.bytes)]));
    this.lastReceived = undefined;
    this.listed = new Set();
    this.sawBlockList = false;
  }

  /** Ends a load (successful or not); safe to call more than once. */
  cleanup(): void {
    if (this.migrating) this.ram.endMigration();
    this.migrating = false;
  }

  /**
   * Reads one section body, record by record, up to and including its EOS.
   * @throws RamLoadError for a record QEMU would refuse (or savevm does not decode)
   * @throws StreamError when the stream ends or breaks
   */
  async loadSection(f: QemuFileReader): Promise<void> {
    if (!this.migrating) this.setup();
    this.stats.sections++;
    for (;;) {
      if (f.available < 8) await f.ensure(8, 'a ram record');
      const at = f.offset;
      const hi = f.takeBe32();
      const word = f.takeBe32();
      const flags = word & 0xfff;
      const lo = (word & ~0xfff) >>> 0;
      let block: RamBlock | undefined;
      let offset = 0;
      if ((flags & PAGE_KINDS) !== 0) {
        block = await this.blockFromStream(f, flags, hi, lo, at);
        offset = hi * TWO_32 + lo;
        if (hi >= SAFE_HI || offset >= block.usedLength) {
          throw this.refuse('OFFSET_OUT_OF_RANGE', [`Illegal RAM offset ${hex64(hi, lo)}`], at, flags, block, hi, lo);
        }
        if (this.strict && !this.sawBlockList) {
          throw this.refuse('BAD_BLOCK_LIST', ['a page arrived before the block list (MEM_SIZE)'], at, flags, block, hi, lo);
        }
      }
      switch (flags & ~RamFlag.CONTINUE) {
        case RamFlag.PAGE: {
          if (f.available < TARGET_PAGE_SIZE) await f.ensure(TARGET_PAGE_SIZE, 'a ram page');
          (block as RamBlock).bytes.set(f.takeView(TARGET_PAGE_SIZE), offset);
          this.stats.pages++;
          break;
        }
        case RamFlag.ZERO: {
          const fill = await f.getU8('a zero page fill byte');
          if (fill !== 0) throw this.refuse('NONZERO_FILL', [`Found a zero page with value ${fill}`], at, flags, block, hi, lo);
          const target = block as RamBlock;
          // Only a page that is not zero already is written, so untouched memory stays untouched.
          if (!(this.zeroTests.get(target) as ZeroPageTest)(offset)) target.bytes.fill(0, offset, offset + TARGET_PAGE_SIZE);
          this.stats.zeroPages++;
          break;
        }
        case RamFlag.EOS:
          // QEMU 7.2's barrier: every section end (docs/design/multifd.md §5).
          if (this.multifd !== undefined && (this.syncMode ??= 'per-section') === 'per-section') await this.multifd.syncMain();
          return;
        case RamFlag.MEM_SIZE:
          await this.loadBlockList(f, hi, lo, at, flags);
          break;
        case RamFlag.MULTIFD_FLUSH:
          if (this.multifd !== undefined) {
            this.syncMode ??= 'flush-record';
            if (this.syncMode === 'flush-record') await this.multifd.syncMain();
          }
          break;
        case RamFlag.HOOK:
          // No-ops on a migration without multifd or RDMA, as QEMU 10.0 (docs/design/ram-section.md §5).
          break;
        case RamFlag.XBZRLE:
          throw this.refuse('UNSUPPORTED_RECORD', [`XBZRLE pages are not supported (flags 0x${flags.toString(16)})`], at, flags, block, hi, lo);
        default:
          throw this.refuse('UNKNOWN_FLAGS', [`Unknown combination of migration flags: 0x${flags.toString(16)}`], at, flags, block, hi, lo);
      }
    }
  }

  /** The block a page record names: the last one for CONTINUE, else the counted name that follows. */
  private async blockFromStream(f: QemuFileReader, flags: number, hi: number, lo: number, at: number): Promise<RamBlock> {
    if ((flags & RamFlag.CONTINUE) !== 0) {
      const last = this.lastReceived;
      if (last === undefined) {
        throw this.refuse('CONTINUE_WITHOUT_BLOCK', ['Ack, bad migration stream!', `Illegal RAM offset ${hex64(hi, lo)}`], at, flags, undefined, hi, lo);
      }
      return last;
    }
    const name = await readName(f);
    const block = this.byKey.get(name.key);
    if (block === undefined) {
      throw this.refuse('UNKNOWN_BLOCK', [`Can't find block ${name.text}`, `Illegal RAM offset ${hex64(hi, lo)}`], at, flags, name.text, hi, lo);
    }
    this.lastReceived = block;
    return block;
  }

  /**
   * MEM_SIZE: the block list, read until the announced total is used up; each block must
   * exist here with the same used length (docs/design/ram-section.md §3, §5).
   */
  private async loadBlockList(f: QemuFileReader, hi: number, lo: number, at: number, flags: number): Promise<void> {
    if (this.strict && this.sawBlockList) throw this.refuse('BAD_BLOCK_LIST', ['a second block list (MEM_SIZE)'], at, flags);
    let total = (BigInt(hi) << 32n) | BigInt(lo);
    while (total !== 0n) {
      const name = await readName(f);
      if (f.available < 8) await f.ensure(8, 'a ram block length');
      const length = f.takeBe64();
      const block = this.byKey.get(name.key);
      if (block === undefined) {
        throw this.refuse('UNKNOWN_BLOCK', [`Unknown ramblock "${name.text}", cannot accept migration`], at, flags, name.text);
      }
      // QEMU rounds the stream's length up to the host page before comparing (its resize check).
      const aligned = BigInt.asUintN(64, (length + 0xfffn) & PAGE_MASK64);
      if (aligned !== BigInt(block.usedLength)) {
        throw this.refuse(
          'LENGTH_MISMATCH',
          [`Size mismatch: ${block.idstr}: 0x${aligned.toString(16)} != 0x${block.usedLength.toString(16)}: Invalid argument`],
          at,
          flags,
          block,
        );
      }
      if (this.strict && length > total) {
        throw this.refuse('BAD_BLOCK_LIST', [`the block list's lengths overrun its total at block "${block.idstr}"`], at, flags, block);
      }
      this.listed.add(block);
      total = BigInt.asUintN(64, total - length);
    }
    this.sawBlockList = true;
    if (this.strict) {
      for (const block of this.byKey.values()) {
        if (!this.listed.has(block)) {
          throw this.refuse('MISSING_BLOCK', [`RAM block "${block.idstr}" is not in the stream's block list`], at, flags, block);
        }
      }
    }
  }

  private refuse(
    code: RamLoadErrorCode,
    messages: string[],
    at: number,
    flags: number,
    block?: RamBlock | string,
    hi?: number,
    lo?: number,
  ): RamLoadError {
    return new RamLoadError({
      code,
      messages,
      block: typeof block === 'string' || block === undefined ? block : block.idstr,
      ramOffset: hi === undefined || lo === undefined ? undefined : (BigInt(hi) << 32n) | BigInt(lo),
      flags,
      streamOffset: at,
    });
  }
}

/** Reads a counted block name; like QEMU's C string, it ends at the first NUL. */
async function readName(f: QemuFileReader): Promise<StreamName> {
  if (f.available < 1) await f.ensure(1, 'a ram block name');
  const len = f.takeU8();
  if (f.available < len) await f.ensure(len, 'a ram block name');
  let bytes = f.takeView(len);
  const nul = bytes.indexOf(0);
  if (nul >= 0) bytes = bytes.subarray(0, nul);
  return { key: bytes.toString('latin1'), text: bytes.toString('utf8') };
}
