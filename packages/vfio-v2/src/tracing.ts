/**
 * Trace points of the VFIO v2 handlers through `node:diagnostics_channel`: one channel per
 * event, named after QEMU's trace events in hw/vfio/trace-events (the ones the 8.0 patch
 * added, plus the pre-copy ones added since). Publishing costs nothing when nobody listens.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

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
  vfio_migration_probe: { readonly device: string; readonly flags: number | undefined; readonly errno: string | undefined };
  /** The device, the state asked for, the state it is in now and how it got there. */
  vfio_migration_set_state: {
    readonly device: string;
    readonly from: string;
    readonly target: string;
    readonly state: string;
    readonly outcome: 'ok' | 'recovered' | 'reset' | 'reset-failed' | 'out-of-sync';
  };
  /** The device, the VM's new running flag and run state, the device state now. */
  vfio_vmstate_change_prepare: { readonly device: string; readonly running: boolean; readonly reason: string; readonly deviceState: string };
  /** Same as the prepare event. */
  vfio_vmstate_change: { readonly device: string; readonly running: boolean; readonly reason: string; readonly deviceState: string };
  /** The device and the migration event. */
  vfio_migration_state_notifier: { readonly device: string; readonly event: string };
  /** The device and the data buffer size. */
  vfio_save_setup: { readonly device: string; readonly dataBufferSize: number };
  /** The device. */
  vfio_save_cleanup: { readonly device: string };
  /** The device, the stop-copy size reported, and the pre-copy figures. */
  vfio_state_pending_exact: { readonly device: string; readonly stopCopySize: number; readonly precopyInitSize: number; readonly precopyDirtySize: number };
  /** The device and the cached pre-copy figures. */
  vfio_state_pending_estimate: { readonly device: string; readonly precopyInitSize: number; readonly precopyDirtySize: number };
  /** The device, the bytes sent this round and what remains of the estimate. */
  vfio_save_iterate: { readonly device: string; readonly dataSize: number; readonly precopyInitSize: number; readonly precopyDirtySize: number };
  /** The device and the block size. */
  vfio_save_block: { readonly device: string; readonly dataSize: number; readonly spliced: boolean };
  /** The device and whether it succeeded. */
  vfio_save_complete_precopy: { readonly device: string; readonly ok: boolean };
  /** The device. */
  vfio_save_device_config_state: { readonly device: string };
  /** The device. */
  vfio_load_device_config_state: { readonly device: string };
  /** The device and the tag read. */
  vfio_load_state: { readonly device: string; readonly tag: bigint };
  /** The device and the block size. */
  vfio_load_state_device_data: { readonly device: string; readonly dataSize: number };
  /** The device. */
  vfio_load_cleanup: { readonly device: string };
}

const channels = Object.fromEntries(
  Object.keys(VfioTracePoint).map((name) => [name, diagnosticsChannel.channel(name)]),
) as Record<VfioTracePointName, diagnosticsChannel.Channel>;

/** Whether anybody listens to `point` (to skip building a payload). */
export function isVfioTracing(point: VfioTracePointName): boolean {
  return channels[point].hasSubscribers;
}

/** Publishes a trace event (no-op without subscribers). */
export function traceVfio<K extends VfioTracePointName>(point: K, payload: VfioTracePayloads[K]): void {
  const ch = channels[point];
  if (ch.hasSubscribers) ch.publish(payload);
}
