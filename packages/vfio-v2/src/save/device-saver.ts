/**
 * The source side of one device (QEMU hw/vfio/migration.c save hooks): setup, the pending
 * figures, pre-copy rounds, the stop-copy drain, the config state and cleanup.
 */
import type { DeviceStateSender, EntryRef, MigrationPhase, PendingBytes, SaveSetupContext } from '@savevm/core';
import type { QemuFileWriter } from '@savevm/stream';
import { MigState, VfioTag, allocateAlignedBuffer, migStateName, type DataSpliceSource, type VfioDataFile } from '@savevm/vfio';
import { VfioV2MigrationError } from '../errors.js';
import type { DeviceMigrationState } from '../migration-state.js';
import { DEFAULT_DATA_BUFFER_SIZE, STOP_COPY_SIZE_UNKNOWN, type StopCopyExit, type VfioConfigStateHook } from '../options.js';
import { usesMultifdTransfer, type MultifdTransfer } from '../multifd/multifd-transfer.js';
import { sendStopCopyState } from '../multifd/stop-copy-sender.js';
import { traceVfio } from '../tracing.js';
import { saveBlock, type BlockResult } from './save-block.js';
import { spliceBlock } from './splice-block.js';

/** What the saver needs to know beyond the device. */
export interface DeviceSaverOptions {
  /** Use PRE_COPY when the device supports it. */
  readonly preCopy: boolean;
  /** Send DEV_INIT_DATA_SENT once the initial bytes are drained. */
  readonly switchoverAck: boolean;
  /** Where STOP_COPY→STOP happens. */
  readonly stopCopyExit: StopCopyExit;
  /** The VMM's config-state hook, if any. */
  readonly configState: VfioConfigStateHook | undefined;
  /** Whether the stop-copy state may travel on the multifd channels (default `auto`). */
  readonly multifdTransfer?: MultifdTransfer;
}

/** Byte counters of one device's outgoing migration. */
export interface DeviceSaveStats {
  /** Device bytes sent in PART sections (pre-copy). */
  preCopyBytes: number;
  /** Device bytes sent in the END section, or on the multifd channels (with the VM stopped). */
  stopCopyBytes: number;
  /** Device-state packets sent on the multifd channels (the config one included). */
  multifdPackets: number;
}

/** Source-side state and hooks of one device. */
export class DeviceSaver {
  #buffer: Uint8Array | undefined;
  #precopyInitSize = 0;
  #precopyDirtySize = 0;
  #initialDataSent = false;
  #multifd = false;
  /** Bytes moved by the current (or last) migration. */
  readonly stats: DeviceSaveStats = { preCopyBytes: 0, stopCopyBytes: 0, multifdPackets: 0 };

  /** @param state the device's migration state; @param options what to do */
  constructor(
    private readonly state: DeviceMigrationState,
    private readonly options: DeviceSaverOptions,
  ) {}

  /** The data buffer's size (0 before setup and after cleanup). */
  get dataBufferSize(): number {
    return this.#buffer?.byteLength ?? 0;
  }

  /** Whether this migration sends the stop-copy state on the multifd channels (decided at setup). */
  get usesMultifd(): boolean {
    return this.#multifd;
  }

  /** Whether pre-copy rounds apply now (QEMU `vfio_is_active_iterate`: the device is in PRE_COPY[_P2P]). */
  isActiveIterate(): boolean {
    return this.state.inPreCopy;
  }

  /**
   * `save_setup`: DEV_SETUP_STATE; a data buffer of min(1 MiB, stop-copy size); PRE_COPY when
   * the device supports it and runs; END_OF_STATE. Decides whether the stop-copy state goes
   * on the multifd channels (docs/design/multifd.md §4).
   */
  setup(f: QemuFileWriter, entry: EntryRef, context?: SaveSetupContext): void {
    this.stats.preCopyBytes = 0;
    this.stats.stopCopyBytes = 0;
    this.stats.multifdPackets = 0;
    this.#initialDataSent = false;
    this.#multifd = usesMultifdTransfer(
      this.options.multifdTransfer ?? 'auto',
      context?.multifd?.settings.deviceState === true,
      this.state.name,
      'save-setup',
      entry,
    );
    f.putBe64(VfioTag.DEV_SETUP_STATE);
    let stopCopySize = DEFAULT_DATA_BUFFER_SIZE;
    try {
      stopCopySize = this.state.device.getStopCopySize();
    } catch {
      // QEMU falls back to the default size.
    }
    const size = Math.max(1, Math.min(DEFAULT_DATA_BUFFER_SIZE, stopCopySize));
    this.#buffer = allocateAlignedBuffer(size);
    if (this.options.preCopy && this.state.supportsPreCopy) {
      const current = this.state.state;
      if (current === MigState.RUNNING) {
        this.#transition('save-setup', entry, MigState.PRE_COPY, MigState.RUNNING);
        this.#queryPrecopySize();
      } else if (current !== MigState.STOP) {
        throw new VfioV2MigrationError({
          device: this.state.name,
          phase: 'save-setup',
          entry,
          operation: 'save setup',
          errno: 'EINVAL',
          detail: `vfio device ${this.state.name}: save setup in unexpected device state ${migStateName(current)}`,
        });
      }
    }
    traceVfio('vfio_save_setup', { device: this.state.name, dataBufferSize: size });
    f.putBe64(VfioTag.END_OF_STATE);
  }

  /** `state_pending_estimate`: the cached pre-copy figures while in pre-copy, else nothing. */
  pendingEstimate(): PendingBytes {
    if (!this.state.inPreCopy) return { mustPrecopy: 0, canPostcopy: 0 };
    traceVfio('vfio_state_pending_estimate', {
      device: this.state.name,
      precopyInitSize: this.#precopyInitSize,
      precopyDirtySize: this.#precopyDirtySize,
    });
    return { mustPrecopy: this.#precopyInitSize + this.#precopyDirtySize, canPostcopy: 0 };
  }

  /**
   * `state_pending_exact`: the stop-copy size (which already includes unread pre-copy bytes),
   * or 100 GiB when the query fails so the downtime limit is never broken; refreshes the
   * pre-copy figures.
   */
  pendingExact(): PendingBytes {
    let stopCopySize = STOP_COPY_SIZE_UNKNOWN;
    try {
      stopCopySize = this.state.device.getStopCopySize();
    } catch {
      // Reported as 100 GiB.
    }
    if (this.state.inPreCopy) this.#queryPrecopySize();
    traceVfio('vfio_state_pending_exact', {
      device: this.state.name,
      stopCopySize,
      precopyInitSize: this.#precopyInitSize,
      precopyDirtySize: this.#precopyDirtySize,
    });
    return { mustPrecopy: stopCopySize, canPostcopy: 0 };
  }

  /**
   * `save_live_iterate`: at most one pre-copy block, then END_OF_STATE — or
   * DEV_INIT_DATA_SENT, once, when switchover-ack is on and the initial bytes are drained.
   * @returns true when the device has nothing more for now
   */
  async iterate(f: QemuFileWriter, entry: EntryRef): Promise<boolean> {
    const dataFile = this.#dataFile('iterate', entry);
    const block = await this.#nextBlock(f, dataFile, this.#spliceSourceOf(f, dataFile), this.#bufferFor('iterate', entry), 'iterate');
    this.stats.preCopyBytes += block.bytes;
    this.#updateEstimates(block.bytes);
    if (this.options.switchoverAck && this.#precopyInitSize === 0 && !this.#initialDataSent) {
      f.putBe64(VfioTag.DEV_INIT_DATA_SENT);
      this.#initialDataSent = true;
    } else {
      f.putBe64(VfioTag.END_OF_STATE);
    }
    traceVfio('vfio_save_iterate', {
      device: this.state.name,
      dataSize: block.bytes,
      precopyInitSize: this.#precopyInitSize,
      precopyDirtySize: this.#precopyDirtySize,
    });
    return this.#precopyInitSize === 0 && this.#precopyDirtySize === 0;
  }

  /**
   * `save_live_complete_precopy`: to STOP_COPY (recover STOP; a no-op when the run-state
   * handler already went there from pre-copy), blocks until the data_fd ends, END_OF_STATE,
   * then (QEMU 8.0 mode) STOP_COPY→STOP with recover ERROR. With multifd transfer, only
   * END_OF_STATE (QEMU's "dummy EOS"): the state goes on the channels.
   */
  async completePrecopy(f: QemuFileWriter, entry: EntryRef): Promise<void> {
    if (this.#multifd) {
      f.putBe64(VfioTag.END_OF_STATE);
      return;
    }
    let ok = false;
    try {
      this.#transition('complete-precopy', entry, MigState.STOP_COPY, MigState.STOP);
      const dataFile = this.#dataFile('complete-precopy', entry);
      const buffer = this.#bufferFor('complete-precopy', entry);
      const splice = this.#spliceSourceOf(f, dataFile);
      for (;;) {
        const block = await this.#nextBlock(f, dataFile, splice, buffer, 'complete-precopy');
        if (block.bytes === 0) break;
        this.stats.stopCopyBytes += block.bytes;
        if (f.error !== undefined) break;
      }
      f.putBe64(VfioTag.END_OF_STATE);
      if (f.error !== undefined) {
        throw new VfioV2MigrationError({ device: this.state.name, phase: 'complete-precopy', entry, operation: 'write stream', cause: f.error });
      }
      if (this.options.stopCopyExit === 'save-complete') {
        this.#transition('complete-precopy', entry, MigState.STOP, MigState.ERROR);
      }
      ok = true;
    } finally {
      traceVfio('vfio_save_complete_precopy', { device: this.state.name, ok });
    }
  }

  /**
   * `save_state`: DEV_CONFIG_STATE, the VMM's config bytes, END_OF_STATE; with multifd
   * transfer only END_OF_STATE (QEMU 10.0: the config travels in the last packet).
   */
  async saveConfig(f: QemuFileWriter, hook: VfioConfigStateHook): Promise<void> {
    if (this.#multifd) {
      f.putBe64(VfioTag.END_OF_STATE);
      return;
    }
    f.putBe64(VfioTag.DEV_CONFIG_STATE);
    await hook.save(f);
    f.putBe64(VfioTag.END_OF_STATE);
    traceVfio('vfio_save_device_config_state', { device: this.state.name });
  }

  /**
   * `save_complete_precopy_thread`: with multifd transfer, the stop-copy state and the
   * config on the channels (docs/design/multifd.md §4); nothing otherwise.
   */
  async completePrecopyThread(sender: DeviceStateSender, entry: EntryRef, signal: AbortSignal): Promise<void> {
    if (!this.#multifd) return;
    let ok = false;
    try {
      const sent = await sendStopCopyState(this.state, sender, entry, signal, {
        bufferSize: this.#bufferFor('complete-precopy', entry).byteLength,
        configState: this.options.configState,
        stopCopyExit: this.options.stopCopyExit,
      });
      this.stats.stopCopyBytes += sent.bytes;
      this.stats.multifdPackets += sent.packets;
      ok = true;
    } finally {
      traceVfio('vfio_save_complete_precopy', { device: this.state.name, ok });
    }
  }

  /**
   * `save_cleanup`: STOP_COPY→STOP when still there (8.1+ mode, recover ERROR), close the
   * data_fd, free the buffer. Runs on success, failure and cancel.
   * @throws VfioV2MigrationError after everything was released, if the state change or close failed
   */
  cleanup(entry: EntryRef): void {
    let failure: unknown;
    if (this.options.stopCopyExit === 'save-cleanup' && this.state.state === MigState.STOP_COPY) {
      try {
        this.#transition('save-cleanup', entry, MigState.STOP, MigState.ERROR);
      } catch (error) {
        failure = error;
      }
    }
    try {
      this.state.closeDataFile();
    } catch (cause) {
      failure ??= new VfioV2MigrationError({ device: this.state.name, phase: 'save-cleanup', entry, operation: 'close data_fd', cause });
    }
    this.#buffer = undefined;
    this.#precopyInitSize = 0;
    this.#precopyDirtySize = 0;
    this.#multifd = false;
    traceVfio('vfio_save_cleanup', { device: this.state.name });
    if (failure !== undefined) throw failure;
  }

  /**
   * The data file's zero-copy path, asked once per phase: only when the stream's channel can
   * take spliced bytes (a plain fd) and the file offers it (a pipe-like fd; not an emulated
   * device).
   */
  #spliceSourceOf(f: QemuFileWriter, dataFile: VfioDataFile): { source: DataSpliceSource | undefined } {
    return { source: f.canSplice() ? dataFile.spliceSource?.() : undefined };
  }

  /**
   * One block: spliced when the path is on and bytes are ready, else QEMU's read + put. A
   * refused splice turns the path off for the rest of the phase (the file stops offering it).
   */
  async #nextBlock(
    f: QemuFileWriter,
    dataFile: VfioDataFile,
    splice: { source: DataSpliceSource | undefined },
    buffer: Uint8Array,
    phase: MigrationPhase,
  ): Promise<BlockResult> {
    if (splice.source !== undefined) {
      const spliced = await spliceBlock(f, splice.source, buffer, this.state.name, phase);
      if (spliced === 'unsupported') splice.source = undefined;
      else if (spliced !== 'not-ready') return spliced;
    }
    return saveBlock(f, dataFile, buffer, this.state.name, phase);
  }

  #transition(phase: MigrationPhase, entry: EntryRef, target: MigState, recover: MigState): void {
    const from = this.state.state;
    try {
      this.state.setState(target, recover);
    } catch (cause) {
      throw new VfioV2MigrationError({
        device: this.state.name,
        phase,
        entry,
        operation: `${migStateName(from)}→${migStateName(target)}`,
        cause,
      });
    }
  }

  /** VFIO_MIG_GET_PRECOPY_INFO into the cached figures (zero when it fails, as QEMU). */
  #queryPrecopySize(): void {
    this.#precopyInitSize = 0;
    this.#precopyDirtySize = 0;
    const dataFile = this.state.dataFile;
    if (dataFile === undefined) return;
    try {
      const info = this.state.device.getPrecopyInfo(dataFile);
      this.#precopyInitSize = info.initialBytes;
      this.#precopyDirtySize = info.dirtyBytes;
    } catch {
      // Estimates only; QEMU ignores the failure.
    }
  }

  /** Takes `bytes` read off the estimates: initial first, then dirty; 0 means drained for now. */
  #updateEstimates(bytes: number): void {
    if (bytes === 0) {
      this.#precopyInitSize = 0;
      this.#precopyDirtySize = 0;
      return;
    }
    const fromInit = Math.min(this.#precopyInitSize, bytes);
    this.#precopyInitSize -= fromInit;
    this.#precopyDirtySize -= Math.min(this.#precopyDirtySize, bytes - fromInit);
  }

  #dataFile(phase: MigrationPhase, entry: EntryRef): VfioDataFile {
    const file = this.state.dataFile;
    if (file === undefined || file.closed) {
      throw new VfioV2MigrationError({
        device: this.state.name,
        phase,
        entry,
        operation: 'read data_fd',
        errno: 'EBADF',
        detail: `vfio device ${this.state.name}: no open data_fd in state ${migStateName(this.state.state)}`,
      });
    }
    return file;
  }

  #bufferFor(phase: MigrationPhase, entry: EntryRef): Uint8Array {
    if (this.#buffer === undefined) {
      throw new VfioV2MigrationError({
        device: this.state.name,
        phase,
        entry,
        operation: 'save',
        errno: 'EINVAL',
        detail: `vfio device ${this.state.name}: save hook called before save setup`,
      });
    }
    return this.#buffer;
  }
}
