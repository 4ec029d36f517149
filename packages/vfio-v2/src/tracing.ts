/**
 * Trace points of the VFIO v2 handlers (a core `TraceChannels` set): one channel per event,
 * named after QEMU's trace events in hw/vfio/trace-events (the ones the 8.0 patch added, plus
 * the pre-copy ones added since). Publishing costs nothing when nobody listens.
 */
import { TraceChannels } from '@savevm/core';

/** The channel names, one per trace event. */
export const VfioTracePoint = {
  /** `vfio_migration_probe`: the provider asked GET MIGRATION. */
  vfio_migration_probe: 'vfio_migration_probe',
  /** `vfio_migration_set_state`: a SET MIG_DEVICE_STATE succeeded (or was recovered/reset). */
  vfio_migration_set_state: 'vfio_migration_set_state',
  /** `vfio_vmstate_change_prepare`: the P2P prepare phase of a run-state change. */
  vfio_vmstate_change_prepare: 'vfio_vmstate_change_prepare',
  /** `vfio_vmstate_change`: the run-state change handler moved the device. */
  vfio_vmstate_change: 'vfio_vmstate_change',
  /** `vfio_migration_state_notifier`: the migration-status hook saw an event. */
  vfio_migration_state_notifier: 'vfio_migration_state_notifier',
  /** `vfio_save_setup`: source setup done, with the data buffer size. */
  vfio_save_setup: 'vfio_save_setup',
  /** `vfio_save_cleanup`: source cleanup done. */
  vfio_save_cleanup: 'vfio_save_cleanup',
  /** `vfio_save_pending` (8.0) / `vfio_state_pending_exact` (8.1+): the exact pending figure. */
  vfio_state_pending_exact: 'vfio_state_pending_exact',
  /** `vfio_state_pending_estimate` (8.1+): the cached pre-copy estimate. */
  vfio_state_pending_estimate: 'vfio_state_pending_estimate',
  /** `vfio_save_iterate`: one pre-copy round. */
  vfio_save_iterate: 'vfio_save_iterate',
  /** `vfio_save_block`: one DEV_DATA_STATE block written. */
  vfio_save_block: 'vfio_save_block',
  /** `vfio_save_complete_precopy`: the stop-copy phase ended (result). */
  vfio_save_complete_precopy: 'vfio_save_complete_precopy',
  /** `vfio_save_device_config_state`: the config-state hook wrote the FULL section. */
  vfio_save_device_config_state: 'vfio_save_device_config_state',
  /** `vfio_load_device_config_state`: the config-state hook read the FULL section. */
  vfio_load_device_config_state: 'vfio_load_device_config_state',
  /** `vfio_load_state`: a tag was read on the destination. */
  vfio_load_state: 'vfio_load_state',
  /** `vfio_load_state_device_data`: one DEV_DATA_STATE block written to the data_fd. */
  vfio_load_state_device_data: 'vfio_load_state_device_data',
  /** `vfio_load_cleanup`: destination cleanup done. */
  vfio_load_cleanup: 'vfio_load_cleanup',
} as const;

/** One of the VFIO trace channel names. */
export type VfioTracePointName = keyof typeof VfioTracePoint;

/** The payload of each trace event. */
export interface VfioTracePayloads {
  /** The device, its flags (undefined on failure) and the errno name of a failure. */
  vfio_migration_probe: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** The migration capability flags GET MIGRATION returned (`VfioMigrationFlags` bits); undefined when it failed. */
    readonly flags: number | undefined;
    /** errno name of the failed GET MIGRATION (e.g. `ENOTTY`); undefined on success. */
    readonly errno: string | undefined;
  };
  /** The device, the state asked for, the state it is in now and how it got there. */
  vfio_migration_set_state: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** Name of the state the device was in before the SET. */
    readonly from: string;
    /** Name of the state the SET asked for. */
    readonly target: string;
    /** Name of the state the device is in afterwards. */
    readonly state: string;
    /** `ok`: reached the target; `recovered`: the SET failed and the device went to the recover state; `reset`: it failed and a reset brought it to RUNNING; `reset-failed`: the reset failed too, the device is taken as ERROR; `out-of-sync`: the kernel returned a new data_fd while the old one was still open. */
    readonly outcome: 'ok' | 'recovered' | 'reset' | 'reset-failed' | 'out-of-sync';
  };
  /** The device, the VM's new running flag and run state, the device state now. */
  vfio_vmstate_change_prepare: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** Whether the VM is about to run (true) or stop (false). */
    readonly running: boolean;
    /** The run state the VM is moving to (a `RunState` name). */
    readonly reason: string;
    /** Name of the device's migration state after the prepare step. */
    readonly deviceState: string;
  };
  /** Same as the prepare event. */
  vfio_vmstate_change: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** Whether the VM now runs (true) or is stopped (false). */
    readonly running: boolean;
    /** The run state the VM moved to (a `RunState` name). */
    readonly reason: string;
    /** Name of the device's migration state after the change. */
    readonly deviceState: string;
  };
  /** The device and the migration event. */
  vfio_migration_state_notifier: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** The migration event type: `precopy-setup`, `precopy-done` or `precopy-failed`. */
    readonly event: string;
  };
  /** The device and the data buffer size. */
  vfio_save_setup: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** Size in bytes of the buffer each data_fd read uses (at most 1 MiB, at most the stop-copy size). */
    readonly dataBufferSize: number;
  };
  /** The device. */
  vfio_save_cleanup: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
  };
  /** The device, the stop-copy size reported, and the pre-copy figures. */
  vfio_state_pending_exact: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** The stop-copy size the device reports (MIG_DATA_SIZE `stop_copy_length`), bytes. */
    readonly stopCopySize: number;
    /** Initial pre-copy bytes still unread (`initial_bytes`), bytes. */
    readonly precopyInitSize: number;
    /** Pre-copy bytes dirtied since (`dirty_bytes`), bytes. */
    readonly precopyDirtySize: number;
  };
  /** The device and the cached pre-copy figures. */
  vfio_state_pending_estimate: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** Cached initial pre-copy bytes still unread, bytes. */
    readonly precopyInitSize: number;
    /** Cached dirty pre-copy bytes, bytes. */
    readonly precopyDirtySize: number;
  };
  /** The device, the bytes sent this round and what remains of the estimate. */
  vfio_save_iterate: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** Device-state bytes written to the stream in this round (0 when there was none). */
    readonly dataSize: number;
    /** Initial pre-copy bytes still unread after the round. */
    readonly precopyInitSize: number;
    /** Dirty pre-copy bytes after the round. */
    readonly precopyDirtySize: number;
  };
  /** The device and the block size. */
  vfio_save_block: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** Bytes in the DEV_DATA_STATE block. */
    readonly dataSize: number;
    /** Whether the bytes went from the data_fd to the stream by splice(2) rather than through a buffer. */
    readonly spliced: boolean;
  };
  /** The device and whether it succeeded. */
  vfio_save_complete_precopy: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** Whether all stop-copy data was sent. */
    readonly ok: boolean;
  };
  /** The device. */
  vfio_save_device_config_state: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
  };
  /** The device. */
  vfio_load_device_config_state: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
  };
  /** The device and the tag read. */
  vfio_load_state: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** The be64 tag read (a `VfioTag` value, or an unknown one that fails the load). */
    readonly tag: bigint;
  };
  /** The device and the block size. */
  vfio_load_state_device_data: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
    /** Bytes of the DEV_DATA_STATE block written to the data_fd. */
    readonly dataSize: number;
  };
  /** The device. */
  vfio_load_cleanup: {
    /** Name of the VFIO device the event is about. */
    readonly device: string;
  };
}

const channels = new TraceChannels<VfioTracePayloads>(VfioTracePoint);

/** Publishes a trace event (no-op without subscribers). */
export function traceVfio<K extends VfioTracePointName>(point: K, payload: VfioTracePayloads[K]): void {
  channels.publish(point, payload);
}
