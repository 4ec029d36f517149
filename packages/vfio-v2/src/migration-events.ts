/**
 * QEMU 9.1's `VFIO_MIGRATION` QMP event: sent at each change of a device's migration state
 * when the device's `migration-events` property is on, with the device's id, its QOM path
 * and the new state by its QAPI name (`QapiVfioMigrationState`). savevm sends it into the
 * VM's device events (`MigrationSession.deviceEvents$`) when `migrationEvents` is on; see
 * docs/embedding-in-a-vmm.md §10.
 */
import type { DeviceEvent } from '@savevm/core';
import { MigState } from '@savevm/vfio';

/** The event's name on QMP. */
export const VFIO_MIGRATION_EVENT = 'VFIO_MIGRATION';

/**
 * QEMU's `QapiVfioMigrationState` names (9.1), plus `error`: QEMU stops the whole process
 * when a reset after a failed transition fails, where savevm leaves the device in ERROR
 * and says so.
 */
export type VfioMigrationStateName = 'stop' | 'running' | 'stop-copy' | 'resuming' | 'running-p2p' | 'pre-copy' | 'pre-copy-p2p' | 'error';

const QAPI_NAMES: Readonly<Record<MigState, VfioMigrationStateName>> = {
  [MigState.ERROR]: 'error',
  [MigState.STOP]: 'stop',
  [MigState.RUNNING]: 'running',
  [MigState.STOP_COPY]: 'stop-copy',
  [MigState.RESUMING]: 'resuming',
  [MigState.RUNNING_P2P]: 'running-p2p',
  [MigState.PRE_COPY]: 'pre-copy',
  [MigState.PRE_COPY_P2P]: 'pre-copy-p2p',
};

/** The QAPI name of a device state (QEMU `mig_state_to_qapi_state`). */
export function vfioMigrationStateName(state: MigState): VfioMigrationStateName {
  return QAPI_NAMES[state];
}

/** A `VFIO_MIGRATION` event in the VM's device events. */
export interface VfioMigrationEvent extends DeviceEvent {
  /** Always `VFIO_MIGRATION`. */
  readonly event: typeof VFIO_MIGRATION_EVENT;
  /** QEMU's members. */
  readonly data: {
    /** The name the device was attached under (QEMU: the device's `id`). */
    readonly 'device-id': string;
    /** The VFIO device's name, the path its idstr is made of (QEMU: its QOM path). */
    readonly 'qom-path': string;
    /** The state the device is now in. */
    readonly 'device-state': VfioMigrationStateName;
  };
}

/** Whether a device event is a `VFIO_MIGRATION` event. */
export function isVfioMigrationEvent(event: DeviceEvent): event is VfioMigrationEvent {
  return event.event === VFIO_MIGRATION_EVENT;
}

/** The event for a device, attached as `deviceId`, now in `state`. */
export function vfioMigrationEvent(deviceId: string, qomPath: string, state: MigState): VfioMigrationEvent {
  return {
    event: VFIO_MIGRATION_EVENT,
    device: deviceId,
    data: { 'device-id': deviceId, 'qom-path': qomPath, 'device-state': vfioMigrationStateName(state) },
  };
}
