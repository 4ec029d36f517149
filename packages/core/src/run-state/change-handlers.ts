import type { MaybePromise } from '../handlers.js';
import type { EntryRef } from '../errors.js';
import type { RunState } from './run-state.js';

/**
 * A VM change-state handler (QEMU `qemu_add_vm_change_state_handler_prio_full`).
 *
 * On every start and stop the controller runs the `prepare` callbacks of all handlers
 * first, then the `change` callbacks — in ascending priority on start and in descending
 * priority on stop. A VFIO device uses `prepare` to reach RUNNING_P2P before any device
 * stops (and before any device starts), and `change` for the real transition. QEMU uses
 * the device's qdev tree depth as priority, so a bus controller starts before, and stops
 * after, the devices behind it.
 */
export interface VmChangeStateHandler {
  /** First phase (QEMU `prepare_cb`, 8.2+). `running` is the new state's running flag. */
  prepare?(running: boolean, state: RunState): MaybePromise<void>;
  /** Second phase (QEMU `cb` / `cb_ret`). A throw is reported to the caller of start/stop. */
  change?(running: boolean, state: RunState): MaybePromise<void>;
}

/** Options of {@link RunStateController.addChangeHandler}. */
export interface ChangeHandlerOptions {
  /** Ordering priority, ascending on start, descending on stop (default 0). */
  priority?: number;
  /** Names the owner in error messages. */
  name?: string;
  /** The save-state entry of the device, so a migration error can name it. */
  entry?: EntryRef;
}

/** One failed change-handler callback. */
export interface ChangeHandlerFailure {
  /** Which phase failed. */
  readonly phase: 'prepare' | 'change';
  /** The handler's name, if it gave one. */
  readonly name: string | undefined;
  /** The handler's entry, if it gave one. */
  readonly entry: EntryRef | undefined;
  /** What it threw. */
  readonly error: unknown;
}

/** Some change handlers failed during a start or stop; every handler still ran. */
export class RunStateChangeError extends Error {
  /** @param running the transition's direction; @param state the new state; @param failures what failed */
  constructor(
    readonly running: boolean,
    readonly state: RunState,
    readonly failures: readonly ChangeHandlerFailure[],
  ) {
    super(
      `${failures.length} change handler(s) failed while ${running ? 'starting' : 'stopping'} the VM (${state}): ` +
        failures
          .map((f) => `${f.name ?? f.entry?.idstr ?? 'anonymous'} (${f.phase}): ${f.error instanceof Error ? f.error.message : String(f.error)}`)
          .join('; '),
      { cause: failures[0]?.error },
    );
    this.name = new.target.name;
  }
}

/** A registration that can be undone. */
export interface Disposable {
  /** Undoes the registration (idempotent). */
  dispose(): void;
}
