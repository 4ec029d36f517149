/**
 * The devices of one side, made migratable: each opened from its spec and attached through
 * core's wiring, where the probe chain (VFIO v2, then v1) picks its handlers. The emulated
 * devices go through the same chain: they speak v2, so v2's handlers take them.
 */
import type { SaveStateEntry } from '@savevm/core';
import { type MigrationSession, createMigrationSession } from '@savevm/session';
import { vfioV1ContainerModule } from '@savevm/vfio-v1-legacy';
import { vfioV2ContainerModule } from '@savevm/vfio-v2';
import { DeviceSetupError } from './device-setup-error.js';
import type { DeviceSpec } from './device-spec.js';
import { type DeviceStateReport, type OpenedDevice, openDevice } from './opened-device.js';

/** A device, opened and attached. */
export interface AttachedMigrationDevice {
  /** The opened device. */
  readonly device: OpenedDevice;
  /** Its save-state entry. */
  readonly entry: SaveStateEntry;
  /** The provider that took it (`vfio-v2`, `vfio-v1`). */
  readonly provider: string;
}

/** Options of a device set. */
export interface DeviceSetOptions {
  /** The `switchover-ack` capability for v2 devices (both sides must agree). */
  readonly switchoverAck?: boolean;
  /** Vouch that no device does peer-to-peer DMA, so several devices migrate although some lack P2P. */
  readonly allowMultiDeviceWithoutP2P?: boolean;
}

/** Every device of one side, attached to the VM's migration session. */
export class DeviceSet {
  private constructor(
    /** The attached devices, in `--device` order. */
    readonly devices: readonly AttachedMigrationDevice[],
    /** The VM's migration session (registry, run state, `migrate`, `incoming`). */
    readonly session: MigrationSession,
  ) {}

  /**
   * Opens and attaches every device.
   * @throws DeviceSetupError naming the device that could not be opened or has no provider
   */
  static async open(specs: readonly DeviceSpec[], options: DeviceSetOptions = {}): Promise<DeviceSet> {
    // More than one device: QEMU 8.2's rule blocks migrate unless every one has P2P
    // (docs/embedding-in-a-vmm.md §3); the flag vouches for the devices without it.
    const allowMultiDeviceWithoutP2P = options.allowMultiDeviceWithoutP2P ?? false;
    const session = await createMigrationSession({
      providers: [
        // Every device state change is a VFIO_MIGRATION event (the --json lines show them).
        vfioV2ContainerModule({ switchoverAck: options.switchoverAck ?? false, allowMultiDeviceWithoutP2P, migrationEvents: true }),
        vfioV1ContainerModule({ allowMultiDeviceWithoutP2P }),
      ],
    });
    const devices: AttachedMigrationDevice[] = [];
    try {
      for (const spec of specs) {
        let device: OpenedDevice;
        try {
          device = openDevice(spec);
        } catch (cause) {
          throw new DeviceSetupError(spec.text, 'open', cause);
        }
        try {
          const attached = await session.attach(device.vfio, spec.text);
          devices.push({ device, entry: attached.entry, provider: attached.provider.name });
        } catch (cause) {
          device.close();
          throw new DeviceSetupError(spec.text, 'probe', cause);
        }
      }
    } catch (err) {
      for (const d of devices) d.device.close();
      throw err;
    }
    return new DeviceSet(devices, session);
  }

  /** The device attached under `name` (its `--device` spec as written), if any. */
  byName(name: string): AttachedMigrationDevice | undefined {
    return this.devices.find((d) => d.device.spec.text === name);
  }

  /** The device whose section idstr is `idstr`, if any. */
  byIdstr(idstr: string): AttachedMigrationDevice | undefined {
    return this.devices.find((d) => d.entry.idstr === idstr);
  }

  /** Starts every workload. */
  startWorkloads(): void {
    for (const d of this.devices) d.device.startWorkload();
  }

  /** Stops every workload. */
  stopWorkloads(): void {
    for (const d of this.devices) d.device.stopWorkload();
  }

  /** Every device's state, for the summary. */
  reports(): DeviceStateReport[] {
    return this.devices.map((d) => d.device.report(d.entry.idstr));
  }

  /** Closes every device. */
  close(): void {
    for (const d of this.devices) {
      try {
        d.device.close();
      } catch {
        // closing is best effort
      }
    }
  }
}
