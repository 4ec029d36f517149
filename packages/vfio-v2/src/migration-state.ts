/**
 * The device's migration state as the VFIO v2 state machine, and the one way to change it:
 * set-state with a recover state (QEMU `vfio_migration_set_state`, docs/design/vfio-uapi.md
 * §6). The data_fd of the current session is owned here, and every state the device is
 * taken to is pushed on `stateChanges$` where QEMU 9.1 sends its VFIO_MIGRATION event.
 */
import { type Observable, Subject } from 'rxjs';
import {
  MigState,
  VfioMigrationFlags,
  isPreCopyState,
  migStateName,
  type VfioDataFile,
  type VfioDevice,
} from '@savevm/vfio';
import { VfioStateTransitionError, type TransitionOutcome } from './errors.js';
import { traceVfio } from './tracing.js';

/**
 * One device's migration state. The kernel never changes state on its own (except by a
 * reset), so the last state set is cached; the initial state is taken as RUNNING, as QEMU
 * does (the uAPI does not specify it).
 */
export class DeviceMigrationState {
  #state: MigState = MigState.RUNNING;
  #dataFile: VfioDataFile | undefined;
  readonly #changes = new Subject<MigState>();

  /**
   * @param device the VFIO device
   * @param flags its `VfioMigrationFlags` (GET MIGRATION)
   */
  constructor(
    readonly device: VfioDevice,
    readonly flags: number,
  ) {}

  /** The device name. */
  get name(): string {
    return this.device.name;
  }

  /** The cached device state. */
  get state(): MigState {
    return this.#state;
  }

  /**
   * The state the device is taken to, each time it is set (QEMU 9.1
   * `vfio_migration_set_device_state`, where VFIO_MIGRATION is sent): after a successful
   * SET; the recover state after a failed one, even when the device was already in it;
   * RUNNING after a reset, ERROR when the reset failed. Nothing when the device is already
   * in the target. Pushed synchronously, before the setter returns or throws.
   */
  get stateChanges$(): Observable<MigState> {
    return this.#changes.asObservable();
  }

  /** The open data file of the current session, if any. */
  get dataFile(): VfioDataFile | undefined {
    return this.#dataFile;
  }

  /** Whether the device supports PRE_COPY. */
  get supportsPreCopy(): boolean {
    return (this.flags & VfioMigrationFlags.PRE_COPY) !== 0;
  }

  /** Whether the device supports the P2P states. */
  get supportsP2P(): boolean {
    return (this.flags & VfioMigrationFlags.P2P) !== 0;
  }

  /** Whether the device is in PRE_COPY or PRE_COPY_P2P. */
  get inPreCopy(): boolean {
    return isPreCopyState(this.#state);
  }

  /**
   * Moves the device to `target`. Nothing happens when it is already there. When the SET
   * fails: with `recover` = ERROR, or when setting `recover` fails too, the device is reset
   * and taken as RUNNING; otherwise it is left in `recover`. Either way the first error is
   * thrown as a {@link VfioStateTransitionError}. A new data_fd while one is open ("data_fd out
   * of sync", after an asynchronous reset) is closed and refused with EBADF.
   * @throws VfioStateTransitionError
   */
  setState(target: MigState, recover: MigState): void {
    const from = this.#state;
    if (target === from) return;
    let dataFile: VfioDataFile | undefined;
    try {
      dataFile = this.device.setState(target).dataFile;
    } catch (first) {
      this.#recover(from, target, recover, first);
    }
    this.#set(target);
    if (dataFile !== undefined) {
      if (this.#dataFile !== undefined && !this.#dataFile.closed) {
        closeQuietly(dataFile);
        this.#fail(from, target, recover, 'out-of-sync', target, undefined);
      }
      this.#dataFile = dataFile;
    }
    traceVfio('vfio_migration_set_state', { device: this.name, from: migStateName(from), target: migStateName(target), state: migStateName(target), outcome: 'ok' });
  }

  /** {@link setState} with recover state ERROR: any failure resets the device (QEMU `vfio_migration_set_state_or_reset`). */
  setStateOrReset(target: MigState): void {
    this.setState(target, MigState.ERROR);
  }

  /**
   * VFIO_DEVICE_RESET: the device is back in RUNNING with its own state and any session is
   * over (the only way to abort RESUMING). The data file is closed first.
   * @throws VfioSyscallError when the reset fails (the device state is then unknown: ERROR)
   */
  reset(): void {
    const from = this.#state;
    this.closeDataFile();
    try {
      this.device.reset();
    } catch (error) {
      this.#set(MigState.ERROR);
      throw error;
    }
    this.#set(MigState.RUNNING);
    traceVfio('vfio_migration_set_state', { device: this.name, from: migStateName(from), target: migStateName(MigState.RUNNING), state: migStateName(MigState.RUNNING), outcome: 'reset' });
  }

  /** Closes the data file of the session, if one is open (QEMU `vfio_migration_cleanup`). */
  closeDataFile(): void {
    const file = this.#dataFile;
    this.#dataFile = undefined;
    file?.close();
  }

  /** Caches the state the device is now in and tells `stateChanges$`. */
  #set(state: MigState): void {
    this.#state = state;
    this.#changes.next(state);
  }

  #recover(from: MigState, target: MigState, recover: MigState, first: unknown): never {
    if (recover !== MigState.ERROR) {
      try {
        const late = this.device.setState(recover).dataFile;
        if (late !== undefined) closeQuietly(late);
        this.#set(recover);
        this.#fail(from, target, recover, 'recovered', recover, first);
      } catch (error) {
        if (error instanceof VfioStateTransitionError) throw error;
        // The recover SET failed too: fall through to the reset.
      }
    }
    try {
      this.device.reset();
    } catch (resetError) {
      this.#set(MigState.ERROR);
      this.#fail(from, target, recover, 'reset-failed', MigState.ERROR, first, resetError);
    }
    this.#set(MigState.RUNNING);
    this.#fail(from, target, recover, 'reset', MigState.RUNNING, first);
  }

  #fail(
    from: MigState,
    target: MigState,
    recover: MigState,
    outcome: TransitionOutcome,
    landedIn: MigState,
    cause: unknown,
    resetError?: unknown,
  ): never {
    traceVfio('vfio_migration_set_state', {
      device: this.name,
      from: migStateName(from),
      target: migStateName(target),
      state: migStateName(landedIn),
      outcome,
    });
    throw new VfioStateTransitionError({ device: this.name, from, target, recover, outcome, landedIn, cause, resetError });
  }
}

function closeQuietly(file: VfioDataFile): void {
  try {
    file.close();
  } catch {
    // The fd is gone either way.
  }
}
