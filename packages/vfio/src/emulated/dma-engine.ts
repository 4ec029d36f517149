/**
 * An emulated device's DMA: writes into guest memory through whatever address space the
 * kernel attached it to, only while the device runs (RUNNING, RUNNING_P2P, PRE_COPY,
 * PRE_COPY_P2P), each one recorded where the real kernel would see it — the device's own
 * DMA log, type1's bitmap for an emulated-IOMMU device, a HWPT's dirty bit
 * (docs/design/vfio-dirty-tracking.md §5).
 */
import { Xorshift32 } from './device-state.js';
import { EmulatedDmaLog } from './dma-log.js';
import type { DmaMapping } from './dma-mappings.js';
import type { DmaTarget } from './dma-target.js';

/** How an emulated device meets the IOMMU and what it can track. */
export interface DmaEngineConfig {
  /**
   * `emulated` (default): an mdev — no IOMMU of its own; on type1 its DMA goes through
   * `vfio_dma_rw()` (type1 reports those pages once), on iommufd it attaches to an IOAS
   * through an access object (no IOMMU tracking). `physical`: a device behind an IOMMU that
   * never pins pages — type1 reports every mapped page dirty while it is in the container;
   * on iommufd it gets page tables, with dirty tracking when `iommuDirtyTracking`.
   */
  readonly iommu?: 'emulated' | 'physical';
  /** Whether the device's IOMMU can track dirty pages (GET_HW_INFO's DIRTY_TRACKING; `physical` only). Default false. */
  readonly iommuDirtyTracking?: boolean;
  /** Whether the driver has DMA logging (DMA_LOGGING_*; else ENOTTY). Default false. */
  readonly dmaLogging?: boolean;
  /** The page size the device logs at whatever START asks (default: the one asked). */
  readonly dmaLoggingPageSize?: number;
  /** Seed of the DMA writer's choice of pages. Default 7. */
  readonly dmaSeed?: number;
}

/** The device's DMA engine: its attachment, its log and its writer. */
export class EmulatedDmaEngine {
  /** How the device meets the IOMMU. */
  readonly iommuKind: 'emulated' | 'physical';
  /** Whether its IOMMU can track dirty pages. */
  readonly iommuDirtyTracking: boolean;
  /** Whether the driver has DMA logging. */
  readonly hasLogging: boolean;
  /** The device's DMA log (used only when {@link hasLogging}). */
  readonly log: EmulatedDmaLog;
  /** Pages written, by the device state at the time of the write (only running states ever appear). */
  readonly writesByState = new Map<number, number>();
  /** Pages written in all. */
  pagesWritten = 0;
  #target: DmaTarget | undefined;
  readonly #random: Xorshift32;
  #counter = 0;

  /**
   * @param name the device's name
   * @param config how it meets the IOMMU and what it can track
   * @param isRunning whether the device may do DMA now
   * @param state the device's state now (for {@link writesByState})
   */
  constructor(
    readonly name: string,
    config: DmaEngineConfig,
    private readonly isRunning: () => boolean,
    private readonly state: () => number,
  ) {
    this.iommuKind = config.iommu ?? 'emulated';
    this.iommuDirtyTracking = this.iommuKind === 'physical' && (config.iommuDirtyTracking ?? false);
    this.hasLogging = config.dmaLogging ?? false;
    this.log = new EmulatedDmaLog(config.dmaLoggingPageSize);
    this.#random = new Xorshift32(config.dmaSeed ?? 7);
  }

  /** The address space the kernel attached the device to, if any. */
  get target(): DmaTarget | undefined {
    return this.#target;
  }

  /** Called by the kernel when it attaches (or detaches: undefined) the device. */
  connectDma(target: DmaTarget | undefined): void {
    this.#target = target;
  }

  /** The writable mappings the device can reach now. */
  get writableMappings(): readonly DmaMapping[] {
    return (this.#target?.mappings.mappings ?? []).filter((m) => m.writable);
  }

  /**
   * Writes `pages` pages chosen at random among the writable mappings (8 bytes of a running
   * counter at a random place in each), if the device runs and is attached; returns the
   * pages written.
   */
  write(pages: number): number {
    if (pages <= 0 || !this.isRunning()) return 0;
    const mappings = this.writableMappings;
    let total = 0;
    for (const m of mappings) total += m.size / 4096;
    if (total === 0) return 0;
    const value = new Uint8Array(8);
    const view = new DataView(value.buffer);
    for (let i = 0; i < pages; i++) {
      let page = this.#random.next() % total;
      let mapping = mappings[0] as DmaMapping;
      for (const m of mappings) {
        const n = m.size / 4096;
        if (page < n) {
          mapping = m;
          break;
        }
        page -= n;
      }
      const offset = page * 4096 + (this.#random.next() & 0xff8);
      view.setUint32(0, ++this.#counter, true);
      view.setUint32(4, this.#random.next(), true);
      this.#land(mapping, offset, value);
    }
    return pages;
  }

  /**
   * Writes `data` at `iova` (it must lie inside one writable mapping) if the device runs
   * and is attached; returns whether it was written.
   */
  writeAt(iova: number, data: Uint8Array): boolean {
    if (!this.isRunning()) return false;
    const m = this.#target?.mappings.find(iova);
    if (m === undefined || !m.writable || iova + data.byteLength > m.iova + m.size) return false;
    this.#land(m, iova - m.iova, data);
    return true;
  }

  #land(mapping: DmaMapping, offset: number, data: Uint8Array): void {
    mapping.bytes.set(data, offset);
    const iova = mapping.iova + offset;
    // The write lands first, then every log that sees it records it.
    this.#target?.recordWrite(iova, data.byteLength);
    if (this.hasLogging) this.log.record(iova, data.byteLength);
    this.pagesWritten++;
    const s = this.state();
    this.writesByState.set(s, (this.writesByState.get(s) ?? 0) + 1);
  }
}
