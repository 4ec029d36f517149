/**
 * Trace points of the v1 handlers through `node:diagnostics_channel`. Publishing costs
 * nothing when nobody listens.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

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

/** Publishes `payload` on `point`'s channel when someone listens. */
export function traceVfioV1<P extends VfioV1TracePointName>(point: P, payload: VfioV1TracePayloads[P]): void {
  const channel = diagnosticsChannel.channel(VfioV1TracePoint[point]);
  if (channel.hasSubscribers) channel.publish(payload);
}
