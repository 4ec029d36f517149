/**
 * The destination side of one device (QEMU hw/vfio/migration.c load hooks): RESUMING at
 * setup, the tag loop of `load_state`, and cleanup, which ends the session with the driver's
 * validation (RESUMING→STOP) and reports its failure naming the device.
 */
import type { EntryRef, LoadOutcome, LoadSetupContext, LoadStateBufferContext, MigrationErrorReason, SwitchoverStartContext } from '@savevm/core';
import { StreamIoError, type ByteSink, type QemuFileReader } from '@savevm/stream';
import { MigState, VfioSyscallError, VfioTag, PAGE_SIZE, allocateAlignedBuffer, migStateName, type VfioDataFile } from '@savevm/vfio';
import { VfioV2MigrationError } from '../errors.js';
import type { DeviceMigrationState } from '../migration-state.js';
import { MultifdDeviceLoader } from '../multifd/multifd-device-loader.js';
import { VfioMultifdError } from '../multifd/multifd-error.js';
import { usesMultifdTransfer, type MultifdTransfer } from '../multifd/multifd-transfer.js';
import { DEFAULT_DATA_BUFFER_SIZE, DEFAULT_MAX_QUEUED_BUFFERS_SIZE, type VfioConfigStateHook } from '../options.js';
import { traceVfio } from '../tracing.js';

/** What the loader needs to know beyond the device. */
export interface DeviceLoaderOptions {
  /** Whether the switchover-ack capability is on (DEV_INIT_DATA_SENT is refused otherwise). */
  readonly switchoverAck: boolean;
  /** The VMM's config-state hook, if any (DEV_CONFIG_STATE is refused otherwise). */
  readonly configState: VfioConfigStateHook | undefined;
  /** Whether the stop-copy state may come on the multifd channels (default `auto`). */
  readonly multifdTransfer?: MultifdTransfer;
  /** Cap of the multifd buffers queued at once, in payload bytes (default {@link DEFAULT_MAX_QUEUED_BUFFERS_SIZE}). */
  readonly maxQueuedBuffersSize?: number;
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
  /** The multifd side of this load, when the device loads its stop-copy state from the channels. */
  #multifd: MultifdDeviceLoader | undefined;
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

  /** Whether this load takes the stop-copy state from the multifd channels (decided at setup). */
  get usesMultifd(): boolean {
    return this.#multifd !== undefined;
  }

  /** The multifd side of the current load, if it has one (its queue, for statistics and tests). */
  get multifd(): MultifdDeviceLoader | undefined {
    return this.#multifd;
  }

  /**
   * `load_setup`: decides whether the stop-copy state comes on the multifd channels (the
   * migration's channels carry device state and `multifdTransfer` is not `off`; fixed for
   * the load, docs/design/multifd.md §4), then to RESUMING (recover: the current state),
   * which opens the resume data_fd.
   */
  setup(context: LoadSetupContext): void {
    const entry = { idstr: context.entry.idstr, instanceId: context.entry.instanceId };
    const multifd = usesMultifdTransfer(
      this.options.multifdTransfer ?? 'auto',
      context.multifd?.settings.deviceState === true,
      this.state.name,
      'load-setup',
      entry,
    );
    const from = this.state.state;
    this.loadedBytes = 0;
    this.#approveSwitchover = () => context.approveSwitchover();
    try {
      this.state.setState(MigState.RESUMING, from);
    } catch (cause) {
      throw new VfioV2MigrationError({ device: this.state.name, phase: 'load-setup', entry, operation: `${migStateName(from)}→RESUMING`, cause });
    }
    this.#loading = true;
    if (multifd) {
      this.#multifd = new MultifdDeviceLoader(this.state, entry, {
        maxQueuedBytes: this.options.maxQueuedBuffersSize ?? DEFAULT_MAX_QUEUED_BUFFERS_SIZE,
        loadConfig: (f) => this.loadConfigState(f, entry),
        onLoaded: (bytes) => {
          this.loadedBytes += bytes;
        },
      });
    }
  }

  /**
   * `load_state_buffer`: one device-state packet from the channels.
   * @throws VfioMultifdError when the device does not load from the channels, or the packet is refused
   */
  async loadStateBuffer(data: Uint8Array, entry: EntryRef, context?: LoadStateBufferContext): Promise<void> {
    const multifd = this.#multifd;
    if (multifd === undefined) {
      throw new VfioMultifdError({
        device: this.state.name,
        phase: 'multifd',
        entry,
        refusal: 'not-multifd',
        detail: `${this.state.name}: got device state packet but not doing multifd transfer`,
      });
    }
    await multifd.loadStateBuffer(data, context);
  }

  /** `switchover_start`: with multifd transfer, starts the work that loads the buffers in order. */
  switchoverStart(context: SwitchoverStartContext | undefined): void {
    this.#multifd?.start(context);
  }

  /**
   * The config state after DEV_CONFIG_STATE, through the hook, up to END_OF_STATE. Without a
   * hook, only an empty config state (END_OF_STATE at once) is accepted: what a source
   * without a hook puts in its config-state packet.
   */
  async loadConfigState(f: QemuFileReader, entry: EntryRef): Promise<void> {
    if (this.options.configState === undefined) {
      const next = await f.getBe64('END_OF_STATE');
      if (next !== VfioTag.END_OF_STATE) throw this.#refused(entry, 'DEV_CONFIG_STATE but no config-state hook is installed', 'EINVAL', 'DEVICE_FAILED');
      return;
    }
    await this.#loadConfig(f, entry);
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
          if (this.#multifd !== undefined) this.#configOnMainStream(entry);
          await this.#loadConfig(f, entry);
          return;
        case VfioTag.DEV_DATA_STATE: {
          if (this.#multifd?.started === true) {
            throw this.#mainStream(entry, `${this.state.name}: got DEV_DATA_STATE in main migration channel after SWITCHOVER_START but doing multifd transfer`);
          }
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
   * DEV_CONFIG_STATE on the main channel while this load expected the channels: with `auto`,
   * a source that sends its whole state on the main channel (a QEMU 7.2 stream, which has no
   * SWITCHOVER_START and no device-state packets) is loaded from there; with `on`, or once
   * the channels started or brought a packet, it is refused in QEMU's words (QEMU refuses
   * it always; docs/design/multifd.md §4).
   */
  #configOnMainStream(entry: EntryRef): void {
    const multifd = this.#multifd;
    if (multifd === undefined) return;
    if (this.#sentOnMainStream(multifd)) {
      multifd.close();
      this.#multifd = undefined;
      return;
    }
    throw this.#mainStream(entry, `${this.state.name}: got DEV_CONFIG_STATE in main migration channel but doing multifd transfer`);
  }

  /**
   * With `auto`: no SWITCHOVER_START and no packet for this device means the source sent its
   * whole state on the main channel (a source without multifd device transfer cannot start
   * one: its buffers follow SWITCHOVER_START).
   */
  #sentOnMainStream(multifd: MultifdDeviceLoader): boolean {
    return (this.options.multifdTransfer ?? 'auto') === 'auto' && !multifd.started && !multifd.received;
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
    const multifd = this.#multifd;
    this.#multifd = undefined;
    multifd?.close();
    if (outcome.succeeded && multifd !== undefined && !multifd.finished && !this.#sentOnMainStream(multifd)) {
      // The stream ended well, but this device's stop-copy state never reached it: not a loaded device.
      failure = new VfioMultifdError({
        device: this.state.name,
        phase: 'load-cleanup',
        entry,
        refusal: 'not-loaded',
        detail: multifd.started
          ? `${this.state.name}: the load ended before the multifd state buffers were loaded`
          : `${this.state.name}: doing multifd transfer but no SWITCHOVER_START started the load of its state buffers`,
      });
    }
    if (this.state.state === MigState.RESUMING && (!outcome.succeeded || failure !== undefined)) {
      try {
        this.state.reset();
      } catch (cause) {
        failure ??= new VfioV2MigrationError({ device: this.state.name, phase: 'load-cleanup', entry, operation: 'reset after a failed load', cause });
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

  #mainStream(entry: EntryRef, detail: string): VfioMultifdError {
    return new VfioMultifdError({ device: this.state.name, phase: 'load-state', entry, refusal: 'main-stream', detail });
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
