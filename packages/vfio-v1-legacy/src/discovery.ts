/**
 * Finding the v1 migration region (docs/design/vfio-uapi.md §7.1): the region whose TYPE
 * capability is type 3 / subtype 1, found through VFIO_DEVICE_GET_REGION_INFO and its
 * capability chain; a region too small for its 32-byte header is refused.
 */
import { DeviceMigrationInfoV1, VfioV1Region, type VfioDevice, type VfioRegionInfo } from '@savevm/vfio';
import { VfioV1Error, type V1Phase } from './errors.js';

/** Reason given when the device has no v1 migration region. */
export const NO_MIGRATION_REGION = 'no v1 migration region';
/** Reason given when the migration region has zero size. */
export const ZERO_SIZED_MIGRATION_REGION = 'migration region has zero size';

/** The migration region was found and is usable. */
export interface MigrationRegionFound {
  /** Always true. */
  readonly found: true;
  /** The region, with its decoded capabilities. */
  readonly region: VfioRegionInfo;
}

/** No usable migration region. */
export interface MigrationRegionAbsent {
  /** Always false. */
  readonly found: false;
  /** Missing altogether, or too small. */
  readonly code: 'region-missing' | 'region-too-small';
  /** Why, in the words a probe verdict uses. */
  readonly reason: string;
}

/** The outcome of looking for the migration region. */
export type MigrationRegionLookup = MigrationRegionFound | MigrationRegionAbsent;

/** Looks for the migration region and checks its size. Device errors propagate. */
export function lookUpMigrationRegion(device: VfioDevice): MigrationRegionLookup {
  const region = device.findRegionByType(VfioV1Region.TYPE, VfioV1Region.SUBTYPE);
  if (region === undefined) return { found: false, code: 'region-missing', reason: NO_MIGRATION_REGION };
  if (region.size === 0) return { found: false, code: 'region-too-small', reason: ZERO_SIZED_MIGRATION_REGION };
  if (region.size <= DeviceMigrationInfoV1.size) {
    return {
      found: false,
      code: 'region-too-small',
      reason: `migration region (${region.size} bytes) has no room for data after its ${DeviceMigrationInfoV1.size}-byte header`,
    };
  }
  return { found: true, region };
}

/**
 * The migration region, or a {@link VfioV1Error} (`region-missing`, `region-too-small`, or
 * `register-io` when the region info cannot be read).
 */
export function requireMigrationRegion(device: VfioDevice, phase: V1Phase = 'discovery'): VfioRegionInfo {
  let lookup: MigrationRegionLookup;
  try {
    lookup = lookUpMigrationRegion(device);
  } catch (cause) {
    throw new VfioV1Error({ device: device.name, phase, code: 'register-io', detail: 'reading the region info failed', cause });
  }
  if (!lookup.found) throw new VfioV1Error({ device: device.name, phase, code: lookup.code, detail: lookup.reason });
  return lookup.region;
}
