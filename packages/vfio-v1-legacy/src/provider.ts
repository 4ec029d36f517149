/**
 * `VfioV1Provider`: the `HandlerProvider` for devices that have the deprecated v1 migration
 * region. It is asked after the v2 provider (lower priority): a device reaches it when
 * `VFIO_DEVICE_FEATURE GET MIGRATION` gave ENOTTY (or lacked STOP_COPY).
 */
import type { DeviceMigrationSpec, HandlerProvider, ProbeVerdict } from '@savevm/core';
import { NOT_A_VFIO_DEVICE, isVfioDevice, type VfioDevice } from '@savevm/vfio';
import { VfioV1DeviceMigration } from './device-migration.js';
import { lookUpMigrationRegion, requireMigrationRegion } from './discovery.js';
import { V1MigrationRegion } from './migration-region.js';

/** The v1 provider's priority (v2's is higher, so v2 is asked first). */
export const VFIO_V1_PROVIDER_PRIORITY = 100;

/** Options of {@link VfioV1Provider}. */
export interface VfioV1ProviderOptions {
  /** Largest pread of the data section while saving, bytes (default 1 MiB). */
  readonly maxPieceBytes?: number;
  /** The section idstr of a device (default `vfioIdstr(device.name)`: `<device name>/vfio`, QEMU's `<qdev path>/vfio`). */
  readonly idstrOf?: (device: VfioDevice) => string;
  /** Run-state handler priority (QEMU: the device's qdev tree depth; default 0). */
  readonly runStatePriority?: number;
  /**
   * Count these devices as safe to migrate alongside other VFIO devices (default false): the
   * VMM vouches that they take no part in peer-to-peer DMA. v1 has no P2P state, so without
   * it a v1 device with any other VFIO device blocks migration (QEMU 8.2's multi-device rule,
   * docs/embedding-in-a-vmm.md §3).
   */
  readonly allowMultiDeviceWithoutP2P?: boolean;
}

/** Accepts devices with a non-empty v1 migration region and describes their migration. */
export class VfioV1Provider implements HandlerProvider<VfioDevice> {
  /** The name shown in verdicts. */
  readonly name = 'vfio-v1';
  /** Asked after v2 (priority 200). */
  readonly priority = VFIO_V1_PROVIDER_PRIORITY;

  /** @param options idstr, run-state priority and save tuning */
  constructor(private readonly options: VfioV1ProviderOptions = {}) {}

  /**
   * Accepts when the migration region exists and is large enough for its header and data.
   * Anything that is not a {@link VfioDevice} is refused as not a VFIO device. Never throws.
   */
  probe(device: unknown): ProbeVerdict {
    if (!isVfioDevice(device)) return { accepted: false, reason: NOT_A_VFIO_DEVICE };
    try {
      const lookup = lookUpMigrationRegion(device);
      if (!lookup.found) return { accepted: false, reason: lookup.reason };
      return { accepted: true, reason: `v1 migration region ${lookup.region.index} (${lookup.region.size} bytes)` };
    } catch (error) {
      return { accepted: false, reason: `looking for the v1 migration region failed: ${error instanceof Error ? error.message : String(error)}` };
    }
  }

  /**
   * The device's entry (`<idstr>`, instance ANY, version 1), its handlers, its run-state
   * handler, its migration-status hook, and its place in the VM's multi-device P2P rule
   * (as a device without P2P) while it is attached.
   * @throws VfioV1Error when the region is missing or too small
   */
  create(device: VfioDevice): DeviceMigrationSpec {
    const region = new V1MigrationRegion(device, requireMigrationRegion(device));
    const { idstrOf, maxPieceBytes, runStatePriority, allowMultiDeviceWithoutP2P } = this.options;
    return new VfioV1DeviceMigration(device, region, {
      ...(idstrOf !== undefined && { idstr: idstrOf(device) }),
      ...(maxPieceBytes !== undefined && { maxPieceBytes }),
      ...(runStatePriority !== undefined && { runStatePriority }),
      ...(allowMultiDeviceWithoutP2P !== undefined && { allowMultiDeviceWithoutP2P }),
    }).spec();
  }
}
