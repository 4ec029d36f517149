/**
 * The VFIO v2 handler provider: accepts a device when VFIO_DEVICE_FEATURE GET MIGRATION
 * answers with STOP_COPY in its flags, and says why not otherwise (ENOTTY: no migration v2 in
 * this kernel or driver; flags without STOP_COPY: unsupported).
 */
import type { DeviceMigrationSpec, HandlerProvider, ProbeVerdict } from '@savevm/core';
import { NOT_A_VFIO_DEVICE, VfioMigrationFlags, VfioSyscallError, isVfioDevice, type VfioDevice } from '@savevm/vfio';
import { VfioV2DeviceMigration } from './device-migration.js';
import type { VfioV2Options } from './options.js';
import { traceVfio } from './tracing.js';

/** The provider's priority: asked before the v1 (legacy region) provider. */
export const VFIO_V2_PROVIDER_PRIORITY = 200;

/** Names the set migration flags, e.g. `STOP_COPY|P2P|PRE_COPY`. */
export function describeMigrationFlags(flags: number): string {
  const names = Object.entries(VfioMigrationFlags)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([name]) => name);
  return names.length === 0 ? 'none' : names.join('|');
}

/** Per-device options, or one set for every device. */
export type VfioV2OptionsFor = VfioV2Options | ((device: VfioDevice) => VfioV2Options);

/** A core `HandlerProvider` for VFIO devices speaking migration protocol v2. */
export class VfioV2Provider implements HandlerProvider<VfioDevice> {
  /** The provider's name in verdicts. */
  readonly name = 'vfio-v2';
  /** Asked before the v1 provider. */
  readonly priority = VFIO_V2_PROVIDER_PRIORITY;
  /** Every device migration this provider created, by device. */
  readonly created = new Map<VfioDevice, VfioV2DeviceMigration>();

  /** @param options the migration options of each device (default: pre-copy on, no switchover-ack, no config hook) */
  constructor(private readonly options: VfioV2OptionsFor = {}) {}

  /**
   * GET MIGRATION: accepted with STOP_COPY; otherwise the reason. Anything that is not a
   * {@link VfioDevice} (another provider's device, undefined…) is refused as not a VFIO
   * device. Never throws.
   */
  probe(device: unknown): ProbeVerdict {
    if (!isVfioDevice(device)) return { accepted: false, reason: NOT_A_VFIO_DEVICE };
    let flags: number;
    try {
      flags = device.getMigrationFlags();
    } catch (error) {
      const errno = error instanceof VfioSyscallError ? error.errno : undefined;
      traceVfio('vfio_migration_probe', { device: device.name, flags: undefined, errno });
      if (errno === 'ENOTTY') {
        return { accepted: false, reason: 'VFIO_DEVICE_FEATURE GET MIGRATION: ENOTTY (no VFIO migration v2 in this kernel or driver)' };
      }
      return { accepted: false, reason: `VFIO_DEVICE_FEATURE GET MIGRATION failed: ${error instanceof Error ? error.message : String(error)}` };
    }
    traceVfio('vfio_migration_probe', { device: device.name, flags, errno: undefined });
    if ((flags & VfioMigrationFlags.STOP_COPY) === 0) {
      return {
        accepted: false,
        reason: `migration flags ${describeMigrationFlags(flags)} (0x${flags.toString(16)}) lack STOP_COPY: unsupported (EOPNOTSUPP)`,
      };
    }
    return { accepted: true, reason: `VFIO migration v2, flags ${describeMigrationFlags(flags)}` };
  }

  /** Creates the device's migration and returns its spec. */
  create(device: VfioDevice): DeviceMigrationSpec {
    const options = typeof this.options === 'function' ? this.options(device) : this.options;
    const migration = new VfioV2DeviceMigration(device, device.getMigrationFlags(), options);
    this.created.set(device, migration);
    return migration.spec();
  }
}
