/**
 * The source's stop-copy state on the multifd channels (QEMU
 * `vfio_multifd_save_complete_precopy_thread`; docs/design/multifd.md §4): STOP_COPY, one
 * packet per read of the data_fd (indexes 0, 1, 2 …), then the config-state packet, with
 * the next index and the CONFIG_STATE flag, carrying what the FULL section would carry.
 */
import type { DeviceStateSender, EntryRef } from '@savevm/core';
import { MemoryWriteChannel, QemuFileWriter } from '@savevm/stream';
import { MigState, PAGE_SIZE, VfioTag, allocateAlignedBuffer, migStateName, type VfioDataFile } from '@savevm/vfio';
import { VfioV2MigrationError } from '../errors.js';
import type { DeviceMigrationState } from '../migration-state.js';
import type { StopCopyExit, VfioConfigStateHook } from '../options.js';
import { traceVfio } from '../tracing.js';
import {
  VFIO_DEVICE_STATE_CONFIG_STATE,
  VFIO_DEVICE_STATE_HEADER_SIZE,
  VFIO_DEVICE_STATE_PACKET_VERSION,
  encodeVfioDeviceStatePacket,
} from './device-state-packet.js';
import { VfioMultifdError } from './multifd-error.js';

/** What the sender needs beyond the device. */
export interface StopCopySendOptions {
  /** Bytes per read of the data_fd (the saver's buffer size: min(1 MiB, stop-copy size)). */
  readonly bufferSize: number;
  /** The VMM's config-state hook; without one the config packet holds DEV_CONFIG_STATE, END_OF_STATE. */
  readonly configState: VfioConfigStateHook | undefined;
  /** Where STOP_COPY→STOP happens (`save-complete`: here, after the config packet). */
  readonly stopCopyExit: StopCopyExit;
}

/** What one run sent. */
export interface StopCopySendResult {
  /** Device bytes sent (data packets' payloads). */
  readonly bytes: number;
  /** Packets sent, the config one included. */
  readonly packets: number;
}

/**
 * Sends the device's stop-copy state through `sender`. On failure the device is in STOP or
 * STOP_COPY (or reset to RUNNING), from where the VM's restart takes it back to RUNNING.
 * @throws VfioMultifdError `cancelled` when `signal` aborts; VfioV2MigrationError when the device fails
 */
export async function sendStopCopyState(
  state: DeviceMigrationState,
  sender: DeviceStateSender,
  entry: EntryRef,
  signal: AbortSignal,
  options: StopCopySendOptions,
): Promise<StopCopySendResult> {
  const device = state.name;
  const checkAbort = (): void => {
    if (!signal.aborted) return;
    throw new VfioMultifdError({ device, phase: 'complete-precopy', entry, refusal: 'cancelled', detail: `${device}: operation cancelled`, reason: 'CANCELLED', errno: 'ECANCELED' });
  };
  checkAbort();
  transition(state, entry, MigState.STOP_COPY, MigState.STOP);
  const dataFile = openDataFile(state, entry);
  // The header sits right below a page boundary, so each read lands page-aligned and the packet needs no copy.
  const scratch = allocateAlignedBuffer(PAGE_SIZE + options.bufferSize);
  const header = Buffer.from(scratch.buffer, scratch.byteOffset + PAGE_SIZE - VFIO_DEVICE_STATE_HEADER_SIZE, VFIO_DEVICE_STATE_HEADER_SIZE);
  const readArea = scratch.subarray(PAGE_SIZE, PAGE_SIZE + options.bufferSize);
  let index = 0;
  let bytes = 0;
  for (;;) {
    checkAbort();
    const n = await readOnce(dataFile, readArea, device, entry);
    if (n === 0) break;
    header.writeUInt32BE(VFIO_DEVICE_STATE_PACKET_VERSION, 0);
    header.writeUInt32BE(index, 4);
    header.writeUInt32BE(0, 8);
    await sender.send(scratch.subarray(PAGE_SIZE - VFIO_DEVICE_STATE_HEADER_SIZE, PAGE_SIZE + n));
    traceVfio('vfio_save_block', { device, dataSize: n, spliced: false });
    index++;
    bytes += n;
  }
  checkAbort();
  const config = await configBytes(options.configState);
  checkAbort();
  await sender.send(encodeVfioDeviceStatePacket(index, VFIO_DEVICE_STATE_CONFIG_STATE, config));
  traceVfio('vfio_save_device_config_state', { device });
  if (options.stopCopyExit === 'save-complete') transition(state, entry, MigState.STOP, MigState.ERROR);
  return { bytes, packets: index + 1 };
}

/** Exactly what the FULL section's body would be: DEV_CONFIG_STATE, the hook's bytes, END_OF_STATE. */
async function configBytes(hook: VfioConfigStateHook | undefined): Promise<Buffer> {
  const channel = new MemoryWriteChannel();
  const f = new QemuFileWriter(channel);
  f.putBe64(VfioTag.DEV_CONFIG_STATE);
  if (hook !== undefined) await hook.save(f);
  f.putBe64(VfioTag.END_OF_STATE);
  await f.flush();
  return channel.bytes();
}

/** One read: its byte count, or 0 at the end of the device's stream. */
async function readOnce(dataFile: VfioDataFile, into: Uint8Array, device: string, entry: EntryRef): Promise<number> {
  let result;
  try {
    result = await dataFile.read(into);
  } catch (cause) {
    throw new VfioV2MigrationError({ device, phase: 'complete-precopy', entry, operation: 'read data_fd', cause });
  }
  switch (result.kind) {
    case 'data':
      return result.bytes;
    case 'end':
    case 'no-data-yet':
      return 0;
    case 'session-ended':
      throw new VfioV2MigrationError({
        device,
        phase: 'complete-precopy',
        entry,
        operation: 'read data_fd',
        errno: 'ENODEV',
        detail: `vfio device ${device}: read data_fd failed: the data session ended (ENODEV: device reset or state left)`,
      });
  }
}

function openDataFile(state: DeviceMigrationState, entry: EntryRef): VfioDataFile {
  const file = state.dataFile;
  if (file !== undefined && !file.closed) return file;
  throw new VfioV2MigrationError({
    device: state.name,
    phase: 'complete-precopy',
    entry,
    operation: 'read data_fd',
    errno: 'EBADF',
    detail: `vfio device ${state.name}: no open data_fd in state ${migStateName(state.state)}`,
  });
}

function transition(state: DeviceMigrationState, entry: EntryRef, target: MigState, recover: MigState): void {
  const from = state.state;
  try {
    state.setState(target, recover);
  } catch (cause) {
    throw new VfioV2MigrationError({ device: state.name, phase: 'complete-precopy', entry, operation: `${migStateName(from)}→${migStateName(target)}`, cause });
  }
}
