/**
 * Trace points of the v1 handlers (a core `TraceChannels` set): one channel per event.
 * Publishing costs nothing when nobody listens.
 */
import { TraceChannels } from '@savevm/core';

/** The channel names, one per trace event. */
export const VfioV1TracePoint = {
  /**
   * `vfio_v1_data_path`: save or load setup chose how the data section moves — through the
   * mapped sparse-mmap areas, or pread/pwrite and why (QEMU 7.x: "Failed to mmap VFIO
   * migration region").
   */
  vfio_v1_data_path: 'vfio_v1_data_path',
} as const;

/** One of the v1 trace channel names. */
export type VfioV1TracePointName = keyof typeof VfioV1TracePoint;

/** The payload of each trace event. */
export interface VfioV1TracePayloads {
  /** The device, the setup phase, the path chosen and why. */
  vfio_v1_data_path: {
    /** Name of the VFIO device. */
    readonly device: string;
    /** `save-setup` or `load-setup`. */
    readonly phase: 'save-setup' | 'load-setup';
    /** `mmap`: data bytes are copied out of / into the mapped areas; `pread`: pread/pwrite for the whole migration. */
    readonly path: 'mmap' | 'pread';
    /** How many areas are mapped (0 on the pread path). */
    readonly areas: number;
    /** Why pread/pwrite is used (no MMAP flag, no sparse-mmap capability, the mmap error); empty on the mmap path. */
    readonly reason: string;
  };
}

const channels = new TraceChannels<VfioV1TracePayloads>(VfioV1TracePoint);

/** Publishes a trace event (no-op without subscribers). */
export function traceVfioV1<K extends VfioV1TracePointName>(point: K, payload: VfioV1TracePayloads[K]): void {
  channels.publish(point, payload);
}
