/**
 * The destination side of one device (QEMU hw/vfio/migration.c load hooks): RESUMING at
 * setup, the tag loop of `load_state`, and cleanup, which ends the session with the driver's
 * validation (RESUMING→STOP) and reports its failure naming the device.
 */
import type { EntryRef, LoadOutcome, LoadSetupContext, MigrationErrorReason } from '@savevm/core';
import { StreamIoError, type ByteSink, type QemuFileReader } from '@savevm/stream';
import { MigState, VfioSyscallError, VfioTag, PAGE_SIZE, allocateAlignedBuffer, migStateName, type VfioDataFile } from '@savevm/vfio';
import { VfioV2MigrationError } from '../errors.js';
import type { DeviceMigrationState } from '../migration-state.js';
import { DEFAULT_DATA_BUFFER_SIZE, type VfioConfigStateHook } from '../options.js';
import { traceVfio } from '../tracing.js';

/** What the loader needs to know beyond the device. */
export interface DeviceLoaderOptions {
  /** Whether the switchover-ack capability is on (DEV_INIT_DATA_SENT is refused otherwise). */
  readonly switchoverAck: boolean;
  /** The VMM's config-state hook, if any (DEV_CONFIG_STATE is refused otherwise). */
  readonly configState: VfioConfigStateHook | undefined;
}

/** Room below the page-aligned read area for the bytes a reader's look-ahead can hold (whole pages). */
function lookAheadRoom(f: QemuFileReader): number {
  return Math.ceil(f.lookAheadLimit / PAGE_SIZE) * PAGE_SIZE;
}

function tagName(tag: bigint): string {
  for (const [name, value] of Object.entries(VfioTag)) if (value === tag) return name;
  return `0x${tag.toString(16)}`;
}

/** Destination-side state and hooks of one device. */
export class DeviceLoader {
  /** Look-ahead room, then the page-aligned read area; allocated by the first data block of a load. */
  #scratch: Uint8Array | undefined;
  #room = 0;
  /** Between setup and cleanup. */
  #loading = false;
  #approveSwitchover: (() => void) | undefined;
  /** Device bytes written to the data_fd by the current (or last) load. */
  loadedBytes = 0;

  /** @param state the device's migration state; @param options what to accept */
  constructor(
    private readonly state: DeviceMigrationState,
    private readonly options: DeviceLoaderOptions,
  ) {}

  /** Whether the destination must approve switchover for this device (it supports PRE_COPY). */
  switchoverAckNeeded(): boolean {
    return this.options.switchoverAck && this.state.supportsPreCopy;
  }

  /** `load_setup`: to RESUMING (recover: the current state), which opens the resume data_fd. */
  setup(context: LoadSetupContext): void {
    const entry = { idstr: context.entry.idstr, instanceId: context.entry.instanceId };
    const from = this.state.state;
    this.loadedBytes = 0;
    this.#approveSwitchover = () => context.approveSwitchover();
    try {
      this.state.setState(MigState.RESUMING, from);
    } catch (cause) {
      throw new VfioV2MigrationError({ device: this.state.name, phase: 'load-setup', entry, operation: `${migStateName(from)}→RESUMING`, cause });
    }
    this.#loading = true;
  }

  /**
   * `load_state`: reads tags until the section's end. CONFIG_STATE → the config hook, then
   * END_OF_STATE; SETUP_STATE → END_OF_STATE must follow; DATA_STATE → its bytes go to the
   * data_fd; INIT_DATA_SENT → approve switchover (ends the section); anything else is EINVAL.
   */
  async loadState(f: QemuFileReader, entry: EntryRef): Promise<void> {
    for (;;) {
      const tag = await f.getBe64('a vfio tag');
      traceVfio('vfio_load_state', { device: this.state.name, tag });
      switch (tag) {
        case VfioTag.END_OF_STATE:
          return;
        case VfioTag.DEV_SETUP_STATE:
          await this.#expectEnd(f, entry, 'DEV_SETUP_STATE');
          return;
        case VfioTag.DEV_CONFIG_STATE:
          await this.#loadConfig(f, entry);
          return;
        case VfioTag.DEV_DATA_STATE: {
          const size = await f.getBe64Number('a vfio data size');
          if (size > 0) await this.#loadData(f, size, entry);
          break;
        }
        case VfioTag.DEV_INIT_DATA_SENT:
          if (!this.options.switchoverAck || this.#approveSwitchover === undefined) {
            throw this.#refused(entry, 'DEV_INIT_DATA_SENT while switchover-ack is off');
          }
          try {
            this.#approveSwitchover();
          } catch (cause) {
            throw new VfioV2MigrationError({ device: this.state.name, phase: 'load-state', entry, operation: 'approve switchover', cause, errno: 'EINVAL' });
          }
          return;
        default:
          throw this.#refused(entry, `Unknown tag ${tagName(tag)}`);
      }
    }
  }

  /**
   * `load_cleanup`, after every load. When the device is still RESUMING: after a load that
   * succeeded, RESUMING→STOP, where the driver validates what was loaded (recover: stay
   * RESUMING; a reset only if even that fails); after a load that failed — here or in
   * another device — a reset, the only way to abort RESUMING, so the device is back to
   * RUNNING with its own state. Then the data_fd is closed and the buffer freed.
   * @throws VfioV2MigrationError naming the device when the validation, the reset or the close failed
   */
  cleanup(entry: EntryRef, outcome: LoadOutcome): void {
    let failure: unknown;
    if (this.state.state === MigState.RESUMING && !outcome.succeeded) {
      try {
        this.state.reset();
      } catch (cause) {
        failure = new VfioV2MigrationError({ device: this.state.name, phase: 'load-cleanup', entry, operation: 'reset after a failed load', cause });
      }
    }
    if (this.state.state === MigState.RESUMING) {
      try {
        this.state.setState(MigState.STOP, MigState.RESUMING);
      } catch (cause) {
        failure = new VfioV2MigrationError({
          device: this.state.name,
          phase: 'load-cleanup',
          entry,
          operation: 'RESUMING→STOP (the driver validates the loaded state)',
          cause,
        });
      }
    }
    try {
      this.state.closeDataFile();
    } catch (cause) {
      failure ??= new VfioV2MigrationError({ device: this.state.name, phase: 'load-cleanup', entry, operation: 'close data_fd', cause });
    }
    this.#scratch = undefined;
    this.#loading = false;
    this.#approveSwitchover = undefined;
    traceVfio('vfio_load_cleanup', { device: this.state.name });
    if (failure !== undefined) throw failure;
  }

  async #expectEnd(f: QemuFileReader, entry: EntryRef, after: string): Promise<void> {
    const next = await f.getBe64('END_OF_STATE');
    if (next !== VfioTag.END_OF_STATE) throw this.#refused(entry, `${after} not followed by END_OF_STATE (got ${tagName(next)})`);
  }

  async #loadConfig(f: QemuFileReader, entry: EntryRef): Promise<void> {
    const hook = this.options.configState;
    if (hook === undefined) throw this.#refused(entry, 'DEV_CONFIG_STATE but no config-state hook is installed', 'EINVAL', 'DEVICE_FAILED');
    await hook.load(f);
    traceVfio('vfio_load_device_config_state', { device: this.state.name });
    await this.#expectEnd(f, entry, 'the config state');
  }

  /** QEMU `vfio_load_buffer` (`qemu_file_get_to_fd`): `size` stream bytes into the data_fd. */
  async #loadData(f: QemuFileReader, size: number, entry: EntryRef): Promise<void> {
    const dataFile = this.state.dataFile;
    if (dataFile === undefined || dataFile.closed || !this.#loading) {
      throw this.#refused(entry, `DEV_DATA_STATE in device state ${migStateName(this.state.state)} (no resume data_fd)`, 'EBADF', 'DEVICE_FAILED');
    }
    const room = lookAheadRoom(f);
    if (this.#scratch === undefined || this.#room !== room) {
      this.#scratch = allocateAlignedBuffer(room + DEFAULT_DATA_BUFFER_SIZE);
      this.#room = room;
    }
    await this.#copyBlock(f, size, dataFile, this.#scratch, room, entry);
    this.loadedBytes += size;
    traceVfio('vfio_load_state_device_data', { device: this.state.name, dataSize: size });
  }

  /**
   * Moves one block with one write per read: the bytes already in the reader's look-ahead
   * are copied just below a page boundary of the scratch buffer, the rest is read from the
   * channel straight to that boundary (page-aligned, as the kernel copies fastest), and the
   * first write sends both together. Same bytes as `copyTo` alone, half the writes.
   */
  async #copyBlock(f: QemuFileReader, size: number, dataFile: VfioDataFile, scratch: Uint8Array, room: number, entry: EntryRef): Promise<void> {
    const sink = this.#sinkOf(dataFile, entry);
    const spliceSink = dataFile.spliceSink?.();
    if (spliceSink !== undefined) {
      // The look-ahead's bytes are written, the rest goes fd to fd (splice) where the channel is a plain fd.
      try {
        await f.copyTo(size, sink, { scratch: scratch.subarray(room), what: 'vfio device data', spliceSink });
      } catch (err) {
        // The splice's data_fd side failing is the device's failure, as a plain write's would be.
        if (err instanceof StreamIoError && err.cause instanceof VfioSyscallError) {
          throw new VfioV2MigrationError({ device: this.state.name, phase: 'load-state', entry, operation: 'splice into data_fd', cause: err.cause });
        }
        throw err;
      }
      return;
    }
    const prefix = Math.min(f.available, size, room);
    if (prefix === 0 || prefix === size) {
      await f.copyTo(size, sink, { scratch: scratch.subarray(room), what: 'vfio device data' });
      return;
    }
    await f.readInto(scratch.subarray(room - prefix, room), 'vfio device data');
    let first = true;
    const joined: ByteSink = {
      write: (chunk) => {
        if (!first) return sink.write(chunk);
        first = false;
        // `chunk` starts at scratch[room]: send the prefix with it.
        return sink.write(scratch.subarray(room - prefix, room + chunk.byteLength));
      },
    };
    await f.copyTo(size - prefix, joined, { scratch: scratch.subarray(room), what: 'vfio device data' });
  }

  #sinkOf(dataFile: VfioDataFile, entry: EntryRef): ByteSink {
    return {
      write: async (chunk) => {
        try {
          await dataFile.write(chunk);
        } catch (cause) {
          throw new VfioV2MigrationError({ device: this.state.name, phase: 'load-state', entry, operation: 'write data_fd', cause });
        }
      },
    };
  }

  /** A load refused for what the stream holds (BAD_STREAM) or for the device's own state. */
  #refused(entry: EntryRef, what: string, errno = 'EINVAL', reason: MigrationErrorReason = 'BAD_STREAM'): VfioV2MigrationError {
    return new VfioV2MigrationError({
      device: this.state.name,
      phase: 'load-state',
      entry,
      operation: 'load state',
      errno,
      reason,
      detail: `vfio device ${this.state.name}: ${what}`,
    });
  }
}
