/**
 * The mapped path to a v1 data section (QEMU 7.x mmapped the migration region at save and
 * load setup when it had a sparse-mmap capability, and used pread/pwrite when it had none or
 * when mmap failed). Every area of the capability is mapped up front, since `data_offset` is
 * only known chunk by chunk; a chunk whose range one mapped area covers whole is copied out
 * of / into that area, any other goes through pread/pwrite.
 */
import { VfioRegionFlags, type MappedRegionArea, type VfioDevice, type VfioRegionInfo } from '@savevm/vfio';

/** What {@link V1DataSectionMappings.map} chose. */
export type V1DataPathChoice =
  | {
      /** Data bytes move through the mapped areas. */
      readonly path: 'mmap';
      /** The mapped areas (release them at cleanup). */
      readonly mappings: V1DataSectionMappings;
    }
  | {
      /** Data bytes move through pread/pwrite for the whole migration. */
      readonly path: 'pread';
      /** Why (no MMAP flag, no sparse-mmap area, or the mmap error). */
      readonly reason: string;
    };

/** The mapped sparse-mmap areas of one migration region. */
export class V1DataSectionMappings {
  readonly #areas: readonly MappedRegionArea[];

  private constructor(areas: readonly MappedRegionArea[]) {
    this.#areas = areas;
  }

  /**
   * Maps every non-empty sparse-mmap area of `region`, or says why not. When one area fails,
   * the ones already mapped are unmapped again and the answer is pread (all or nothing).
   */
  static map(device: VfioDevice, region: VfioRegionInfo): V1DataPathChoice {
    if ((region.flags & VfioRegionFlags.MMAP) === 0) return { path: 'pread', reason: 'the migration region has no MMAP flag' };
    const cap = region.capabilities.find((c) => c.kind === 'sparse-mmap');
    const areas = cap?.kind === 'sparse-mmap' ? cap.areas.filter((area) => area.size > 0n) : [];
    if (areas.length === 0) return { path: 'pread', reason: 'the migration region has no sparse-mmap area' };
    const mapped: MappedRegionArea[] = [];
    for (const area of areas) {
      try {
        mapped.push(device.mapRegionArea(region, area));
      } catch (error) {
        unmapQuietly(mapped);
        const why = error instanceof Error ? error.message : String(error);
        return { path: 'pread', reason: `mmap of area @${area.offset}+${area.size} failed: ${why}` };
      }
    }
    return { path: 'mmap', mappings: new V1DataSectionMappings(mapped) };
  }

  /** How many areas are mapped. */
  get areaCount(): number {
    return this.#areas.filter((area) => area.mapped).length;
  }

  /**
   * The mapped bytes of region range [`offset`, `offset + length`) when one mapped area
   * covers it whole (and, for `write`, was mapped writable); `undefined` otherwise.
   */
  span(offset: number, length: number, access: 'read' | 'write'): Uint8Array | undefined {
    for (const area of this.#areas) {
      if (!area.mapped || (access === 'write' && !area.writable)) continue;
      if (offset >= area.offset && offset + length <= area.offset + area.size) {
        return area.bytes.subarray(offset - area.offset, offset - area.offset + length);
      }
    }
    return undefined;
  }

  /** Unmaps every area (idempotent); throws the first munmap error after trying them all. */
  release(): void {
    let firstError: unknown;
    for (const area of this.#areas) {
      try {
        area.unmap();
      } catch (error) {
        firstError ??= error;
      }
    }
    if (firstError !== undefined) throw firstError;
  }
}

function unmapQuietly(areas: readonly MappedRegionArea[]): void {
  for (const area of areas) {
    try {
      area.unmap();
    } catch {
      // The mapping is forgotten either way; the mmap failure is what gets reported.
    }
  }
}
