/**
 * An emulated device's own DMA log (the driver side of DMA_LOGGING_START / REPORT / STOP):
 * the ranges it was asked to log, a sparse bitmap per range at the page size it chose, and
 * clear-on-read reports at any page size (docs/design/vfio-dirty-tracking.md §3, §5).
 */
import { Errno } from '../errors.js';
import { anyDirtyIn, orDirtyInto } from './dirty-bits.js';

/** Pages per chunk of a range's sparse bitmap (2^21 pages: 8 GiB at 4 KiB in 256 KiB of words; a smaller range gets one chunk its size). */
const CHUNK_PAGES = 2 ** 21;
/** The most pages the emulated device logs in all (its tracker's capacity). */
const MAX_LOGGED_PAGES = 2 ** 40;

interface LoggedRange {
  readonly iova: number;
  readonly length: number;
  readonly chunks: Map<number, Uint32Array>;
}

/** A range being logged. */
export interface LoggedSpan {
  /** First IOVA (aligned down to the log's page size). */
  readonly iova: number;
  /** Bytes (whole log pages). */
  readonly length: number;
}

/** One range to log, as START's payload gives it. */
export interface LogRangeRequest {
  /** First IOVA. */
  readonly iova: bigint;
  /** Bytes. */
  readonly length: bigint;
}

/** The device's DMA log. */
export class EmulatedDmaLog {
  #ranges: LoggedRange[] | undefined;
  #pageSize = 0;

  /**
   * @param fixedPageSize the page size the device always logs at, or undefined to take the
   *   one asked for (when it is a power of two of at least 4 KiB, else 4 KiB)
   */
  constructor(private readonly fixedPageSize: number | undefined) {}

  /** Whether logging is on. */
  get active(): boolean {
    return this.#ranges !== undefined;
  }

  /** The page size in use (0 when off). */
  get pageSize(): number {
    return this.#pageSize;
  }

  /** The logged ranges (empty when off). */
  get ranges(): readonly LoggedSpan[] {
    return this.#ranges ?? [];
  }

  /** The driver's start: the page size chosen, or −errno (EINVAL when already on, ENOMEM past its capacity). */
  start(requestedPageSize: bigint, ranges: readonly LogRangeRequest[]): number {
    if (this.#ranges !== undefined) return -Errno.EINVAL;
    const asked = Number(requestedPageSize);
    const pageSize = this.fixedPageSize ?? (asked >= 4096 && Number.isSafeInteger(asked) && (asked & (asked - 1)) === 0 ? asked : 4096);
    let pages = 0;
    const list: LoggedRange[] = [];
    for (const r of ranges) {
      if (r.iova + r.length > BigInt(Number.MAX_SAFE_INTEGER)) return -Errno.EINVAL;
      const iova = Math.floor(Number(r.iova) / pageSize) * pageSize;
      const end = Math.ceil((Number(r.iova) + Number(r.length)) / pageSize) * pageSize;
      pages += (end - iova) / pageSize;
      list.push({ iova, length: end - iova, chunks: new Map() });
    }
    if (pages > MAX_LOGGED_PAGES) return -Errno.ENOMEM;
    list.sort((a, b) => a.iova - b.iova);
    this.#ranges = list;
    this.#pageSize = pageSize;
    return pageSize;
  }

  /** The driver's stop (0 also when off). */
  stop(): number {
    this.#ranges = undefined;
    this.#pageSize = 0;
    return 0;
  }

  /** A DMA write of `length` bytes at `iova`: logged when it falls in a logged range. */
  record(iova: number, length: number): void {
    const ranges = this.#ranges;
    if (ranges === undefined) return;
    const ps = this.#pageSize;
    for (const r of ranges) {
      if (iova + length <= r.iova || iova >= r.iova + r.length) continue;
      const first = Math.floor((Math.max(iova, r.iova) - r.iova) / ps);
      const last = Math.floor((Math.min(iova + length, r.iova + r.length) - 1 - r.iova) / ps);
      for (let p = first; p <= last; p++) {
        const c = Math.floor(p / CHUNK_PAGES);
        let words = r.chunks.get(c);
        if (words === undefined) {
          words = new Uint32Array(Math.ceil(Math.min(CHUNK_PAGES, r.length / ps - c * CHUNK_PAGES) / 32));
          r.chunks.set(c, words);
        }
        const bit = p - c * CHUNK_PAGES;
        words[bit >>> 5] = ((words[bit >>> 5] as number) | (1 << (bit & 31))) >>> 0;
      }
    }
  }

  /** Whether a logged page inside `[iova, iova + length)` was written since the last report. */
  anyDirty(iova: number, length: number): boolean {
    const ps = this.#pageSize;
    for (const r of this.#ranges ?? []) {
      for (const [c, words] of r.chunks) {
        const chunkIova = r.iova + c * CHUNK_PAGES * ps;
        const pages = Math.min(CHUNK_PAGES, (r.length - c * CHUNK_PAGES * ps) / ps);
        if (anyDirtyIn(iova, length, { words, iova: chunkIova, pageSize: ps, pages })) return true;
      }
    }
    return false;
  }

  /**
   * The driver's read-and-clear: sets in `dst` the bit (at `pageSize`, bit n = `iova +
   * n × pageSize`) of every logged page written inside `[iova, iova + length)` and forgets
   * them. EINVAL when logging is off.
   */
  report(dst: Uint8Array, iova: number, length: number, pageSize: number): number {
    const ranges = this.#ranges;
    if (ranges === undefined) return -Errno.EINVAL;
    const ps = this.#pageSize;
    for (const r of ranges) {
      if (iova + length <= r.iova || iova >= r.iova + r.length) continue;
      for (const [c, words] of r.chunks) {
        const chunkIova = r.iova + c * CHUNK_PAGES * ps;
        const pages = Math.min(CHUNK_PAGES, (r.length - c * CHUNK_PAGES * ps) / ps);
        if (chunkIova >= iova + length || chunkIova + pages * ps <= iova) continue;
        orDirtyInto(dst, iova, length, pageSize, { words, iova: chunkIova, pageSize: ps, pages }, true);
      }
    }
    return 0;
  }
}
