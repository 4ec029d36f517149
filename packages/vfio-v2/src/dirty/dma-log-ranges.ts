/**
 * The IOVA ranges a device is asked to log, QEMU's way (`vfio_dirty_tracking_init()`): one
 * range from the lowest to the highest mapped IOVA below 4 GiB, one for the mappings above
 * (docs/design/vfio-dirty-tracking.md §6).
 */

/** One IOVA range. */
export interface IovaSpan {
  /** First IOVA. */
  readonly iova: number;
  /** Bytes. */
  readonly length: number;
}

const FOUR_GIB = 2 ** 32;

/** The (at most two) ranges covering `mappings`: below 4 GiB and above. */
export function loggingRanges(mappings: Iterable<IovaSpan>): IovaSpan[] {
  let min32 = Infinity;
  let max32 = -Infinity;
  let min64 = Infinity;
  let max64 = -Infinity;
  for (const m of mappings) {
    const end = m.iova + m.length;
    if (end <= FOUR_GIB) {
      min32 = Math.min(min32, m.iova);
      max32 = Math.max(max32, end);
    } else {
      min64 = Math.min(min64, m.iova);
      max64 = Math.max(max64, end);
    }
  }
  const out: IovaSpan[] = [];
  if (max32 > min32) out.push({ iova: min32, length: max32 - min32 });
  if (max64 > min64) out.push({ iova: min64, length: max64 - min64 });
  return out;
}

/** Whether `[iova, iova + length)` lies inside one of `ranges`. */
export function insideRanges(ranges: readonly IovaSpan[], iova: number, length: number): boolean {
  return ranges.some((r) => iova >= r.iova && iova + length <= r.iova + r.length);
}
