/**
 * Device DMA logging through `VFIO_DEVICE_FEATURE` on a device fd: the PROBE that says
 * whether the driver has it, DMA_LOGGING_START over IOVA ranges at a page size,
 * DMA_LOGGING_REPORT of a range into a bitmap (clear on read), DMA_LOGGING_STOP
 * (docs/design/vfio-dirty-tracking.md §3). Failures are `VfioSyscallError`s naming the
 * device and the feature.
 */
import { Errno, isErrno } from '../errors.js';
import { checked, type Syscalls } from '../syscalls/syscalls.js';
import { u64, userAddress } from '../syscalls/user-address.js';
import { DirtyTrackingUnsupported, type DirtyTrackingProbe } from '../dirty/refusal.js';
import { VfioFeature, VfioFeatureFlags, VfioIoctl } from '../uapi/constants.js';
import { DmaLoggingControl, DmaLoggingRange, DmaLoggingReport, deviceFeaturePayload, encodeDeviceFeature } from '../uapi/structs.js';

/** The most ranges one DMA_LOGGING_START takes (the kernel's PAGE_SIZE / 16). */
export const DMA_LOGGING_MAX_RANGES = 256;

/** One IOVA range to log. */
export interface DmaLoggingRangeSpec {
  /** First IOVA (aligned to the page size). */
  readonly iova: number | bigint;
  /** Bytes (a multiple of the page size). */
  readonly length: number | bigint;
}

/** The device's DMA logging, bound to its fd. Obtain it with `FdVfioDevice.dmaLogging()`. */
export class DeviceDmaLogging {
  /**
   * @param sys the syscall layer
   * @param fd the device fd
   * @param name the device's name, for errors
   * @param assertOpen throws when the device was closed
   */
  constructor(
    private readonly sys: Syscalls,
    private readonly fd: number,
    readonly name: string,
    private readonly assertOpen: (op: string) => void,
  ) {}

  /**
   * PROBE of DMA_LOGGING_START, QEMU's way: 0 means the driver logs DMA; ENOTTY (no log_ops)
   * is the refusal. Any other failure throws.
   */
  probe(): DirtyTrackingProbe<Record<string, never>> {
    const op = 'VFIO_DEVICE_FEATURE PROBE DMA_LOGGING_START';
    try {
      this.#feature(VfioFeatureFlags.PROBE | VfioFeature.DMA_LOGGING_START, new Uint8Array(0), op);
    } catch (error) {
      if (isErrno(error, Errno.ENOTTY)) {
        return { supported: false, refusal: new DirtyTrackingUnsupported('device-dma-logging', 'the driver has no DMA logging (ENOTTY)', { device: this.name, op }, 'ENOTTY') };
      }
      throw error;
    }
    return { supported: true, detail: {} };
  }

  /**
   * DMA_LOGGING_START over `ranges` (at most 256, not overlapping) at `pageSize`; returns the
   * page size the device chose (it may write back another).
   */
  start(pageSize: number, ranges: readonly DmaLoggingRangeSpec[]): number {
    const op = `VFIO_DEVICE_FEATURE SET DMA_LOGGING_START (${ranges.length} range${ranges.length === 1 ? '' : 's'}, page ${pageSize})`;
    const array = new Uint8Array(Math.max(1, ranges.length) * DmaLoggingRange.size);
    ranges.forEach((r, i) => DmaLoggingRange.encode({ iova: u64(r.iova, 'iova'), length: u64(r.length, 'length') }, array, i * DmaLoggingRange.size));
    const control = DmaLoggingControl.encode({
      page_size: BigInt(pageSize),
      num_ranges: ranges.length,
      __reserved: 0,
      ranges: userAddress(this.sys, array, { device: this.name, op }),
    });
    const buf = this.#feature(VfioFeatureFlags.SET | VfioFeature.DMA_LOGGING_START, control, op);
    const chosen = DmaLoggingControl.decode(deviceFeaturePayload(buf)).page_size;
    return Number(chosen);
  }

  /** DMA_LOGGING_STOP. */
  stop(): void {
    this.#feature(VfioFeatureFlags.SET | VfioFeature.DMA_LOGGING_STOP, new Uint8Array(0), 'VFIO_DEVICE_FEATURE SET DMA_LOGGING_STOP');
  }

  /**
   * DMA_LOGGING_REPORT of `length` bytes at `iova`: sets the bit of every page written since
   * the last report (bit n = `iova + n × pageSize`) in `bitmap` (bits are only set: zero it
   * first) and clears the device's log for the range.
   */
  report(iova: number | bigint, length: number | bigint, pageSize: number, bitmap: Uint8Array): void {
    const op = `VFIO_DEVICE_FEATURE GET DMA_LOGGING_REPORT @0x${u64(iova, 'iova').toString(16)}+${String(length)}`;
    const report = DmaLoggingReport.encode({
      iova: u64(iova, 'iova'),
      length: u64(length, 'length'),
      page_size: BigInt(pageSize),
      bitmap: userAddress(this.sys, bitmap, { device: this.name, op }),
    });
    this.#feature(VfioFeatureFlags.GET | VfioFeature.DMA_LOGGING_REPORT, report, op);
  }

  #feature(flags: number, payload: Uint8Array, op: string): Uint8Array {
    this.assertOpen(op);
    const buf = encodeDeviceFeature(flags, payload);
    checked(this.sys.ioctl(this.fd, VfioIoctl.DEVICE_FEATURE, buf), 'ioctl', { device: this.name, op });
    return buf;
  }
}
