/**
 * The three DMA dirty-tracking mechanisms behind one interface — start, read a range
 * (clear on read), unmap with the range's bits, stop — and which devices each one sees
 * (docs/design/vfio-dirty-tracking.md §6). Each failure is a {@link VfioDmaTrackingError}
 * naming the device(s), the mechanism and the step.
 */
import { DIRTY_BITMAP_SIZE_MAX, Errno, HwptGetDirtyBitmapFlags, VfioSyscallError, type DmaDirtyMechanism, type Type1Iommu, type IommufdIommu } from '@savevm/vfio';
import { VfioDmaTrackingError } from './dma-tracking-error.js';
import type { IovaSpan } from './dma-log-ranges.js';
import type { TrackedDevice } from './tracked-device.js';

/** A mechanism, started for one migration. */
export interface DirtyMechanism {
  /** Which one (`none`: nothing tracks). */
  readonly kind: DmaDirtyMechanism | 'none';
  /**
   * Whether `read` only sets bits (device logging, HWPT): it may then write into the
   * migration bitmap itself. type1 writes whole words (clearing bits of other pages), so it
   * needs a zeroed bitmap of its own.
   */
  readonly setOnly: boolean;
  /** Whether it reports `device`'s DMA. */
  covers(device: TrackedDevice): boolean;
  /** Starts tracking. */
  start(ranges: readonly IovaSpan[]): void;
  /** Sets in `into` (zeroed, one bit per `pageSize`) the pages written in the range since the last read, and forgets them. */
  read(iova: number, length: number, pageSize: number, into: Uint8Array, beforeUnmap: boolean): void;
  /** When the mechanism unmaps and reports in one step (type1): does it. */
  unmapWithBits?(iova: number, length: number, pageSize: number, into: Uint8Array): void;
  /** Stops tracking; every part is tried, the first failure thrown. */
  stop(): void;
}

const names = (devices: readonly TrackedDevice[]): string => devices.map((d) => d.name).join(', ') || '(no device)';

function tryAll(steps: readonly (() => void)[]): void {
  let first: { error: unknown } | undefined;
  for (const step of steps) {
    try {
      step();
    } catch (error) {
      first ??= { error };
    }
  }
  if (first !== undefined) throw first.error;
}

/** Each device logs its own DMA: DMA_LOGGING_START / REPORT / STOP per device. */
export class DeviceLoggingMechanism implements DirtyMechanism {
  /** Which one. */
  readonly kind = 'device-dma-logging';
  /** REPORT only sets bits. */
  readonly setOnly = true;
  /** @param devices every device of the address space (each has logging) */
  constructor(private readonly devices: readonly TrackedDevice[]) {}

  /** Every device logs. */
  covers(): boolean {
    return true;
  }

  /** START on every device; a failure stops the ones started and is thrown. */
  start(ranges: readonly IovaSpan[]): void {
    const started: TrackedDevice[] = [];
    for (const d of this.devices) {
      try {
        d.logging?.start(4096, ranges);
      } catch (cause) {
        for (const s of started) {
          try {
            s.logging?.stop();
          } catch {
            // the START failure is what matters
          }
        }
        throw new VfioDmaTrackingError({ device: d.name, mechanism: this.kind, operation: 'start', cause });
      }
      started.push(d);
    }
  }

  /** REPORT from every device into one bitmap. */
  read(iova: number, length: number, pageSize: number, into: Uint8Array, beforeUnmap: boolean): void {
    for (const d of this.devices) {
      try {
        d.logging?.report(iova, length, pageSize, into);
      } catch (cause) {
        throw new VfioDmaTrackingError({ device: d.name, mechanism: this.kind, operation: beforeUnmap ? 'report before unmap' : 'report', cause });
      }
    }
  }

  /** STOP on every device. */
  stop(): void {
    tryAll(
      this.devices.map((d) => () => {
        try {
          d.logging?.stop();
        } catch (cause) {
          throw new VfioDmaTrackingError({ device: d.name, mechanism: this.kind, operation: 'stop', cause });
        }
      }),
    );
  }
}

/** The type1 container's dirty bitmap (it reports for every device in the container). */
export class Type1Mechanism implements DirtyMechanism {
  /** Which one. */
  readonly kind = 'type1-container';
  /** GET_BITMAP writes whole words. */
  readonly setOnly = false;
  /**
   * @param iommu the container's IOMMU
   * @param devices the container's devices (for messages)
   * @param maxBitmapBytes the MIGRATION capability's largest bitmap
   */
  constructor(
    private readonly iommu: Type1Iommu,
    private readonly devices: readonly TrackedDevice[],
    private readonly maxBitmapBytes: number,
  ) {}

  /** The kernel reports for every device of the container (precisely, or every page for one it cannot see). */
  covers(): boolean {
    return true;
  }

  /** DIRTY_PAGES START. */
  start(): void {
    this.#do('start', () => this.iommu.startDirtyTracking());
  }

  /** DIRTY_PAGES GET_BITMAP of the range (one mapping). */
  read(iova: number, length: number, pageSize: number, into: Uint8Array): void {
    this.#do('get bitmap', () => this.iommu.getDirtyBitmap(iova, length, pageSize, into));
  }

  /** UNMAP_DMA with GET_DIRTY_BITMAP; a bitmap past the capability's limit is refused first (E2BIG), as QEMU does. */
  unmapWithBits(iova: number, length: number, pageSize: number, into: Uint8Array): void {
    this.#do('unmap with bitmap', () => {
      if (into.byteLength > Math.min(this.maxBitmapBytes, DIRTY_BITMAP_SIZE_MAX)) {
        throw new VfioSyscallError(Errno.E2BIG, 'ioctl', { device: this.iommu.name, op: 'UNMAP: Size of bitmap too big' });
      }
      this.iommu.unmapDmaGetBitmap(iova, length, pageSize, into);
    });
  }

  /** DIRTY_PAGES STOP. */
  stop(): void {
    this.#do('stop', () => this.iommu.stopDirtyTracking());
  }

  #do(operation: string, step: () => void): void {
    try {
      step();
    } catch (cause) {
      throw new VfioDmaTrackingError({ device: names(this.devices), mechanism: this.kind, operation, cause });
    }
  }
}

/** The dirty bits of the iommufd HWPTs (with DIRTY_TRACKING) the devices are attached to. */
export class IommufdHwptMechanism implements DirtyMechanism {
  /** Which one. */
  readonly kind = 'iommufd-hwpt';
  /** GET_DIRTY_BITMAP only sets bits. */
  readonly setOnly = true;
  readonly #hwpts: number[];

  /**
   * @param iommu the iommufd
   * @param devices the address space's devices
   */
  constructor(
    private readonly iommu: IommufdIommu,
    private readonly devices: readonly TrackedDevice[],
  ) {
    this.#hwpts = [...new Set(devices.flatMap((d) => (d.dirtyHwpt === undefined ? [] : [d.dirtyHwpt])))];
  }

  /** Only the devices on a HWPT with dirty tracking. */
  covers(device: TrackedDevice): boolean {
    return device.dirtyHwpt !== undefined;
  }

  /** SET_DIRTY_TRACKING(ENABLE) on every HWPT; a failure disables the ones enabled and is thrown. */
  start(): void {
    const enabled: number[] = [];
    for (const h of this.#hwpts) {
      try {
        this.iommu.setDirtyTracking(h, true);
      } catch (cause) {
        for (const e of enabled) {
          try {
            this.iommu.setDirtyTracking(e, false);
          } catch {
            // the enable failure is what matters
          }
        }
        throw new VfioDmaTrackingError({ device: this.#namesOn(h), mechanism: this.kind, operation: 'start', cause });
      }
      enabled.push(h);
    }
  }

  /** GET_DIRTY_BITMAP of every HWPT into one bitmap (NO_CLEAR just before an unmap: the bits go with the mapping). */
  read(iova: number, length: number, pageSize: number, into: Uint8Array, beforeUnmap: boolean): void {
    for (const h of this.#hwpts) {
      try {
        this.iommu.getDirtyBitmap(h, iova, length, pageSize, into, beforeUnmap ? HwptGetDirtyBitmapFlags.NO_CLEAR : 0);
      } catch (cause) {
        throw new VfioDmaTrackingError({ device: this.#namesOn(h), mechanism: this.kind, operation: beforeUnmap ? 'get bitmap before unmap' : 'get bitmap', cause });
      }
    }
  }

  /** SET_DIRTY_TRACKING off on every HWPT. */
  stop(): void {
    tryAll(
      this.#hwpts.map((h) => () => {
        try {
          this.iommu.setDirtyTracking(h, false);
        } catch (cause) {
          throw new VfioDmaTrackingError({ device: this.#namesOn(h), mechanism: this.kind, operation: 'stop', cause });
        }
      }),
    );
  }

  #namesOn(hwpt: number): string {
    return names(this.devices.filter((d) => d.dirtyHwpt === hwpt));
  }
}

/** Nothing tracks: every mapped page counts as dirty at every sync. */
export class NoMechanism implements DirtyMechanism {
  /** Which one. */
  readonly kind = 'none';
  /** Nothing is written. */
  readonly setOnly = true;
  /** It sees nothing. */
  covers(): boolean {
    return false;
  }
  /** Nothing to start. */
  start(): void {}
  /** Nothing to read. */
  read(): void {}
  /** Nothing to stop. */
  stop(): void {}
}
