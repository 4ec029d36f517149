/**
 * Everything that makes one VFIO v2 device migratable: its state machine, its save and load
 * sides, its handlers, run-state handler and migration-status hook, and the spec the core's
 * attacher registers ("<device path>/vfio", instance ANY, version 1), whose `attached` hook
 * joins the VM's multi-device P2P rule (docs/embedding-in-a-vmm.md §3) and, with
 * `migrationEvents`, sends VFIO_MIGRATION events (§10).
 */
import type { DeviceAttachContext, DeviceMigrationSpec, Disposable, MigrationNotifier, SaveVMHandlers, VmChangeStateHandler } from '@savevm/core';
import { INSTANCE_ID_ANY } from '@savevm/stream';
import { VfioMultiDeviceRule, vfioIdstr, type VfioDevice } from '@savevm/vfio';
import { createVfioV2Handlers } from './handlers.js';
import { DeviceLoader } from './load/device-loader.js';
import { vfioMigrationEvent } from './migration-events.js';
import { createMigrationStatusHook } from './migration-status-hook.js';
import { DeviceMigrationState } from './migration-state.js';
import { DEFAULT_MAX_QUEUED_BUFFERS_SIZE, type VfioV2Options } from './options.js';
import { createRunStateHandler } from './run-state-handler.js';
import { DeviceSaver } from './save/device-saver.js';

/** The section version VFIO registers (QEMU: 1). */
export const VFIO_SECTION_VERSION = 1;

/** One device's VFIO v2 migration. */
export class VfioV2DeviceMigration {
  /** The device's state machine and data_fd. */
  readonly state: DeviceMigrationState;
  /** The source side. */
  readonly saver: DeviceSaver;
  /** The destination side. */
  readonly loader: DeviceLoader;
  /** The handler table. */
  readonly handlers: SaveVMHandlers;
  /** The VM change-state handler (with a P2P prepare phase when the device has P2P). */
  readonly runStateHandler: VmChangeStateHandler;
  /** The migration-status hook. */
  readonly migrationNotifier: MigrationNotifier;
  /** The section idstr. */
  readonly idstr: string;

  /**
   * @param device the VFIO device
   * @param flags its migration flags (must include STOP_COPY; see the provider)
   * @param options what to use (pre-copy, switchover-ack, config hook…)
   */
  constructor(
    device: VfioDevice,
    flags: number,
    private readonly options: VfioV2Options = {},
  ) {
    this.idstr = options.idstr ?? vfioIdstr(device.name);
    this.state = new DeviceMigrationState(device, flags);
    this.saver = new DeviceSaver(this.state, {
      preCopy: options.preCopy ?? true,
      switchoverAck: options.switchoverAck ?? false,
      stopCopyExit: options.stopCopyExit ?? 'save-cleanup',
      configState: options.configState,
      multifdTransfer: options.multifdTransfer ?? 'auto',
    });
    this.loader = new DeviceLoader(this.state, {
      switchoverAck: options.switchoverAck ?? false,
      configState: options.configState,
      multifdTransfer: options.multifdTransfer ?? 'auto',
      maxQueuedBuffersSize: options.maxQueuedBuffersSize ?? DEFAULT_MAX_QUEUED_BUFFERS_SIZE,
    });
    this.handlers = createVfioV2Handlers(this.saver, this.loader, options.configState);
    this.runStateHandler = createRunStateHandler(this.state);
    this.migrationNotifier = createMigrationStatusHook(this.state);
  }

  /** What the core's attacher registers: "<path>/vfio", instance ANY, version 1, the hooks. */
  spec(): DeviceMigrationSpec {
    return {
      idstr: this.idstr,
      instanceId: INSTANCE_ID_ANY,
      versionId: VFIO_SECTION_VERSION,
      handlers: this.handlers,
      runStateHandler: this.runStateHandler,
      runStatePriority: this.options.runStatePriority ?? 0,
      migrationNotifier: this.migrationNotifier,
      attached: (context) => this.attached(context),
    };
  }

  /**
   * While attached, the device takes part in the VM's multi-device P2P rule (QEMU 8.2's
   * `vfio_block_multiple_devices_migration` at realize, its unblock at exit) and, with
   * `migrationEvents`, each state it is taken to is a VFIO_MIGRATION event in the VM's
   * device events, under the name it was attached with.
   */
  attached(context: DeviceAttachContext): Disposable {
    const member = VfioMultiDeviceRule.of(context.blockers).join({
      name: context.name,
      p2p: this.state.supportsP2P,
      exempt: this.options.allowMultiDeviceWithoutP2P ?? false,
    });
    const events =
      this.options.migrationEvents === true
        ? this.state.stateChanges$.subscribe((state) => context.events.emit(vfioMigrationEvent(context.name, this.state.name, state)))
        : undefined;
    return {
      dispose: () => {
        events?.unsubscribe();
        member.dispose();
      },
    };
  }
}
