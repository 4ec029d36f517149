/** What a VMM can configure about one device's VFIO v2 migration. */
import type { MaybePromise } from '@savevm/core';
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';
import type { MultifdTransfer } from './multifd/multifd-transfer.js';

/**
 * The device's config state (its PCI config space, MSI-X…), which the VMM owns: written
 * after the live data in a SECTION_FULL as DEV_CONFIG_STATE, the hook's bytes,
 * END_OF_STATE (QEMU `vfio_save_state` / `vfio_load_device_config_state`). Without a hook no
 * FULL section is written, which keeps the wire format of the live sections unchanged.
 */
export interface VfioConfigStateHook {
  /** Writes the config state (the bytes between DEV_CONFIG_STATE and END_OF_STATE). */
  save(f: QemuFileWriter): MaybePromise<void>;
  /** Reads exactly what `save` wrote. */
  load(f: QemuFileReader): MaybePromise<void>;
}

/**
 * Where STOP_COPY→STOP happens on the source: at the end of `saveLiveCompletePrecopy`
 * (QEMU 8.0) or in `saveCleanup`, after the stream is complete, so it adds nothing to the
 * downtime (QEMU 8.1+).
 */
export type StopCopyExit = 'save-complete' | 'save-cleanup';

/** Options of one device's VFIO v2 migration. */
export interface VfioV2Options {
  /** Section idstr (default `<device name>/vfio`, as QEMU's `<qdev path>/vfio`). */
  readonly idstr?: string;
  /**
   * Use PRE_COPY when the device supports it (default true). False reproduces QEMU 8.0,
   * which knew only STOP_COPY.
   */
  readonly preCopy?: boolean;
  /**
   * The `switchover-ack` capability (default false). The source then sends
   * DEV_INIT_DATA_SENT once the initial pre-copy bytes are drained, and the destination
   * approves switchover when it receives it (and refuses it when this is off).
   */
  readonly switchoverAck?: boolean;
  /** Where STOP_COPY→STOP happens (default `save-cleanup`, QEMU 8.1+). */
  readonly stopCopyExit?: StopCopyExit;
  /** The VMM's config-state hook (default: none; no FULL section). */
  readonly configState?: VfioConfigStateHook;
  /** Priority of the run-state handler (QEMU: the qdev tree depth; default 0). */
  readonly runStatePriority?: number;
  /**
   * Whether the stop-copy state and the config travel on the multifd channels when the
   * migration carries device state there (QEMU `x-migration-multifd-transfer`; default
   * `auto`). Source and destination must agree, as in QEMU. docs/design/multifd.md §4.
   */
  readonly multifdTransfer?: MultifdTransfer;
  /**
   * Destination: most payload bytes of this device's multifd buffers held at once, queued
   * out of order or waiting for the device (QEMU 10.1 `x-migration-max-queued-buffers-size`,
   * whose default is unlimited; default {@link DEFAULT_MAX_QUEUED_BUFFERS_SIZE}).
   */
  readonly maxQueuedBuffersSize?: number;
  /**
   * Count this device as safe to migrate alongside other VFIO devices although it lacks
   * P2P (default false): the VMM vouches that it takes no part in peer-to-peer DMA. Without
   * it, QEMU 8.2's rule blocks the migration of a VM with more than one VFIO device when one
   * of them lacks P2P. savevm's own escape: QEMU has none. docs/embedding-in-a-vmm.md §3.
   */
  readonly allowMultiDeviceWithoutP2P?: boolean;
  /**
   * Send a `VFIO_MIGRATION` event into the VM's device events at each change of the
   * device's migration state (QEMU 9.1's `migration-events` property; default false, as in
   * QEMU). docs/embedding-in-a-vmm.md §10.
   */
  readonly migrationEvents?: boolean;
}

/**
 * The default cap of a device's queued multifd buffers: 256 MiB, 256 of QEMU's 1 MiB reads —
 * room for channels that run far apart, while one device can never hold more.
 */
export const DEFAULT_MAX_QUEUED_BUFFERS_SIZE = 256 * 1024 * 1024;

/** QEMU's VFIO_MIG_DEFAULT_DATA_BUFFER_SIZE: 1 MiB. */
export const DEFAULT_DATA_BUFFER_SIZE = 1024 * 1024;

/**
 * What `statePendingExact` reports when MIG_DATA_SIZE fails: 100 GiB, big enough that the
 * downtime limit is never broken (QEMU `VFIO_MIG_STOP_COPY_SIZE`).
 */
export const STOP_COPY_SIZE_UNKNOWN = 100 * 1024 * 1024 * 1024;
