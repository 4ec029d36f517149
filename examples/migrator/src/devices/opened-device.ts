/**
 * One device taking part in a migration, opened: an emulated one (its model, workload and
 * byte check) or a real VFIO one.
 */
import { MigState, VfioContainer, migStateName, openVfioDevice, type VfioDevice } from '@savevm/vfio';
import {
  EmulatedDmaWriter,
  EmulatedVfioKernel,
  createEmulatedDevice,
  type EmulatedDeviceModel,
} from '@savevm/vfio/emulated';
import { DirtyWorkload } from './dirty-workload.js';
import { type DeviceSpec, type EmulatedDeviceSpec, type VfioDeviceSpecText, formatMigrationFlags, isMdevUuid } from './device-spec.js';
import { expectedEmulatedDigest, sha256Hex } from './state-digest.js';

/** What the summary says about one device's bytes. */
export interface DeviceStateReport {
  /** The spec as written. */
  readonly device: string;
  /** The section idstr. */
  readonly idstr: string;
  /** The device's VFIO migration state now (RUNNING, STOP…); for the RAM, the VM's run state. */
  readonly deviceState: string;
  /** Size of its state, bytes (the RAM's, shown as `SIZE, BYTES moved`). */
  readonly size?: number;
  /** SHA-256 of its state bytes now (emulated devices). */
  readonly sha256?: string;
  /** Pages its workload dirtied (emulated devices, source). */
  readonly pagesDirtied?: number;
  /** Whether the bytes are exactly what seed + dirtying give (emulated devices). */
  readonly intact?: boolean;
  /** Pages of guest RAM it wrote by DMA (emulated devices with `dma-rate`, source). */
  readonly dmaPagesWritten?: number;
}

/** A device opened for a migration. */
export interface OpenedDevice {
  /** The spec. */
  readonly spec: DeviceSpec;
  /** The VFIO device handle the handlers use. */
  readonly vfio: VfioDevice;
  /** A short label for messages: `emulated:alpha` or `vfio:0000:01:00.0`. */
  readonly label: string;
  /** Starts the guest workload (emulated devices with a dirty rate). */
  startWorkload(): void;
  /** Stops it. */
  stopWorkload(): void;
  /** The device's state for the summary. */
  report(idstr: string): DeviceStateReport;
  /** Closes the device. */
  close(): void;
}

/** An emulated VFIO v2 device with its byte check. */
export class OpenedEmulatedDevice implements OpenedDevice {
  readonly vfio: VfioDevice;
  readonly model: EmulatedDeviceModel;
  readonly label: string;
  /** The type1 container its DMA goes through (devices with `dma-rate`), for mapping guest RAM. */
  readonly container: VfioContainer | undefined;
  private readonly workload: DirtyWorkload;
  private readonly dmaWriter: EmulatedDmaWriter | undefined;
  private dirtied = 0;

  /**
   * Creates the device in its own emulated kernel, its state filled from the seed. With a
   * DMA rate it logs its DMA and is opened through a type1 container, where guest RAM is
   * mapped for it to write.
   */
  constructor(readonly spec: EmulatedDeviceSpec) {
    const config = { name: spec.name, protocol: 'v2' as const, migrationFlags: spec.migrationFlags, stateSize: spec.size, seed: spec.seed };
    if (spec.dmaRate > 0) {
      const kernel = new EmulatedVfioKernel();
      const node = kernel.addDevice({ ...config, dmaLogging: true, dmaSeed: spec.seed });
      this.container = VfioContainer.open({ syscalls: kernel });
      this.vfio = this.container.openDevice(node);
      this.container.closeWhenIdle();
      this.model = node.model;
      this.dmaWriter = new EmulatedDmaWriter(node.model.dma, { pagesPerSecond: spec.dmaRate / 4096 });
    } else {
      const { device, model } = createEmulatedDevice(config);
      this.vfio = device;
      this.model = model;
    }
    this.label = `emulated:${spec.name}`;
    this.workload = new DirtyWorkload(this.model, spec.dirtyRate);
    this.model.state.onDirty(() => this.dirtied++);
  }

  /** Pages of guest RAM written by DMA so far. */
  get dmaPagesWritten(): number {
    return this.model.dma.pagesWritten;
  }

  /** Pages the workload dirtied so far (each one byte changed). */
  get pagesDirtied(): number {
    return this.dirtied;
  }

  /** SHA-256 of the state bytes now. */
  digest(): string {
    return sha256Hex(this.model.stateBytes);
  }

  /** Whether the bytes are exactly those the seed and the dirtying give. */
  isIntact(): boolean {
    return expectedEmulatedDigest(this.spec.size, this.spec.seed, this.dirtied) === this.digest();
  }

  startWorkload(): void {
    this.workload.start();
    this.dmaWriter?.start();
  }

  stopWorkload(): void {
    this.workload.stop();
    this.dmaWriter?.stop();
  }

  report(idstr: string): DeviceStateReport {
    return {
      device: this.spec.text,
      idstr,
      deviceState: migStateName(this.model.migState),
      sha256: this.digest(),
      pagesDirtied: this.dirtied,
      intact: this.isIntact(),
      ...(this.dmaWriter !== undefined && { dmaPagesWritten: this.dmaPagesWritten }),
    };
  }

  close(): void {
    this.workload.stop();
    this.dmaWriter?.stop();
    this.vfio.close();
  }

  /** `flags=…` as written, for messages. */
  get flagsText(): string {
    return formatMigrationFlags(this.spec.migrationFlags);
  }
}

/** A real VFIO device opened through the kernel. */
export class OpenedVfioDevice implements OpenedDevice {
  readonly vfio: VfioDevice;
  readonly label: string;

  /** Opens the device (sysfs path or mdev UUID). */
  constructor(readonly spec: VfioDeviceSpecText) {
    this.vfio = openVfioDevice(isMdevUuid(spec.target) ? { mdevUuid: spec.target } : { sysfsPath: spec.target });
    this.label = `vfio:${spec.target}`;
  }

  startWorkload(): void {}

  stopWorkload(): void {}

  report(idstr: string): DeviceStateReport {
    let state = 'unknown';
    try {
      state = migStateName(this.vfio.getState());
    } catch {
      // a v1 device, or the device is gone
    }
    return { device: this.spec.text, idstr, deviceState: state };
  }

  close(): void {
    this.vfio.close();
  }
}

/** Opens the device a spec names. */
export function openDevice(spec: DeviceSpec): OpenedDevice {
  return spec.kind === 'emulated' ? new OpenedEmulatedDevice(spec) : new OpenedVfioDevice(spec);
}

/** Whether an opened device is an emulated one. */
export function isEmulated(device: OpenedDevice): device is OpenedEmulatedDevice {
  return device instanceof OpenedEmulatedDevice;
}

/** The RUNNING state's name, for checks. */
export const RUNNING_STATE_NAME = migStateName(MigState.RUNNING);
