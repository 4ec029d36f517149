/**
 * Everything that makes one v1 device migratable, laid out as `@savevm/vfio-v2`'s
 * `VfioV2DeviceMigration`: its migration region, its save and load sides, its handlers,
 * run-state handler and migration-status hook, and the spec the core's attacher registers
 * ("<device path>/vfio", instance ANY, version 1), whose `attached` hook joins the VM's
 * multi-device P2P rule as a device without P2P (docs/embedding-in-a-vmm.md §3).
 */
import type { DeviceAttachContext, DeviceMigrationSpec, Disposable, MigrationNotifier, SaveVMHandlers, VmChangeStateHandler } from '@savevm/core';
import { INSTANCE_ID_ANY } from '@savevm/stream';
import { VfioMultiDeviceRule, vfioIdstr, type VfioDevice } from '@savevm/vfio';
import { createVfioV1Handlers } from './handlers.js';
import { V1DeviceLoader, VFIO_V1_VERSION_ID } from './load/device-loader.js';
import { createV1MigrationStatusHook } from './migration-status-hook.js';
import type { V1MigrationRegion } from './migration-region.js';
import { createV1RunStateHandler, type VmRunning } from './run-state-handler.js';
import { V1DeviceSaver } from './save/device-saver.js';

/** What one v1 device's migration is built with. */
export interface VfioV1DeviceOptions {
  /** The section idstr (default `vfioIdstr(device.name)`: `<device name>/vfio`). */
  readonly idstr?: string;
  /** Largest pread of the data section while saving, bytes (default 1 MiB). */
  readonly maxPieceBytes?: number;
  /** Run-state handler priority (QEMU: the device's qdev tree depth; default 0). */
  readonly runStatePriority?: number;
  /** Count the device as safe beside other VFIO devices (default false; see `VfioV1ProviderOptions`). */
  readonly allowMultiDeviceWithoutP2P?: boolean;
}

/** One device's VFIO v1 migration. */
export class VfioV1DeviceMigration {
  /** The source side. */
  readonly saver: V1DeviceSaver;
  /** The destination side. */
  readonly loader: V1DeviceLoader;
  /** The handler table. */
  readonly handlers: SaveVMHandlers;
  /** The VM change-state handler. */
  readonly runStateHandler: VmChangeStateHandler;
  /** The migration-status hook. */
  readonly migrationNotifier: MigrationNotifier;
  /** The section idstr. */
  readonly idstr: string;
  readonly #vm: VmRunning = { running: true };

  /**
   * @param device the VFIO device
   * @param region its migration region (see the provider, which looks it up)
   * @param options idstr, save tuning, run-state priority, multi-device exemption
   */
  constructor(
    device: VfioDevice,
    readonly region: V1MigrationRegion,
    private readonly options: VfioV1DeviceOptions = {},
  ) {
    this.idstr = options.idstr ?? vfioIdstr(device.name);
    this.saver = new V1DeviceSaver(region, options.maxPieceBytes);
    this.loader = new V1DeviceLoader(region);
    this.handlers = createVfioV1Handlers(this.saver, this.loader);
    this.runStateHandler = createV1RunStateHandler(region, this.#vm);
    this.migrationNotifier = createV1MigrationStatusHook(region, this.#vm);
  }

  /** Whether the VM was running at the last run-state change this device saw. */
  get vmRunning(): boolean {
    return this.#vm.running;
  }

  /** What the core's attacher registers: "<path>/vfio", instance ANY, version 1, the hooks. */
  spec(): DeviceMigrationSpec {
    return {
      idstr: this.idstr,
      instanceId: INSTANCE_ID_ANY,
      versionId: VFIO_V1_VERSION_ID,
      handlers: this.handlers,
      runStateHandler: this.runStateHandler,
      runStatePriority: this.options.runStatePriority ?? 0,
      migrationNotifier: this.migrationNotifier,
      attached: (context) => this.attached(context),
    };
  }

  /** While attached, the device takes part in the VM's multi-device P2P rule, as a device without P2P. */
  attached(context: DeviceAttachContext): Disposable {
    return VfioMultiDeviceRule.of(context.blockers).join({ name: context.name, p2p: false, exempt: this.options.allowMultiDeviceWithoutP2P ?? false });
  }
}
