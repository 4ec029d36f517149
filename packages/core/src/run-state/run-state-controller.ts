import { BehaviorSubject, type Observable } from 'rxjs';
import { traceVmStateNotify } from '../tracing/trace-points.js';
import {
  type ChangeHandlerFailure,
  type ChangeHandlerOptions,
  type Disposable,
  RunStateChangeError,
  type VmChangeStateHandler,
} from './change-handlers.js';
import { RunState } from './run-state.js';

interface Registration {
  readonly handler: VmChangeStateHandler;
  readonly priority: number;
  readonly options: ChangeHandlerOptions;
}

/**
 * The VM's run state and its ordered change handlers (QEMU `runstate_set`, `vm_start`,
 * `vm_stop`, `vm_state_notify`). Unlike QEMU, a failing handler is reported: `start()`
 * and `stop()` run every handler and then reject with a {@link RunStateChangeError}
 * listing the failures.
 */
export class RunStateController {
  private registrations: Registration[] = [];
  private readonly subject: BehaviorSubject<RunState>;

  /** @param initial the state to begin in (QEMU begins in `prelaunch`) */
  constructor(initial: RunState = RunState.PRELAUNCH) {
    this.subject = new BehaviorSubject<RunState>(initial);
  }

  /** The current run state. */
  get state(): RunState {
    return this.subject.value;
  }

  /** Whether the VM is running (QEMU `runstate_is_running`). */
  get isRunning(): boolean {
    return this.subject.value === RunState.RUNNING;
  }

  /** Every run-state change, starting with the current one. */
  get states$(): Observable<RunState> {
    return this.subject.asObservable();
  }

  /**
   * Adds a change handler (QEMU `qemu_add_vm_change_state_handler_prio_full`). Handlers
   * of equal priority keep registration order (reversed on stop).
   */
  addChangeHandler(handler: VmChangeStateHandler, options: ChangeHandlerOptions = {}): Disposable {
    const registration: Registration = { handler, priority: options.priority ?? 0, options };
    let i = this.registrations.length;
    while (i > 0 && (this.registrations[i - 1] as Registration).priority > registration.priority) i--;
    this.registrations = [...this.registrations.slice(0, i), registration, ...this.registrations.slice(i)];
    return {
      dispose: () => {
        this.registrations = this.registrations.filter((r) => r !== registration);
      },
    };
  }

  /** Sets the state without notifying handlers (QEMU `runstate_set`). */
  setState(state: RunState): void {
    if (this.subject.value !== state) this.subject.next(state);
  }

  /**
   * Starts the VM (QEMU `vm_start`): state RUNNING, then every `prepare`, then every
   * `change`, in ascending priority. Does nothing when already running.
   * @throws RunStateChangeError after all handlers ran, if any failed
   */
  async start(): Promise<void> {
    if (this.isRunning) return;
    this.setState(RunState.RUNNING);
    await this.notify(true, RunState.RUNNING);
  }

  /**
   * Stops the VM (QEMU `vm_stop` / `vm_stop_force_state`): when running, sets `state`,
   * then runs every `prepare` and every `change` in descending priority; when not
   * running, only sets `state`.
   * @throws RunStateChangeError after all handlers ran, if any failed
   */
  async stop(state: RunState = RunState.PAUSED): Promise<void> {
    if (!this.isRunning) {
      this.setState(state);
      return;
    }
    this.setState(state);
    await this.notify(false, state);
  }

  /** Runs both phases over every handler (QEMU `vm_state_notify`). */
  private async notify(running: boolean, state: RunState): Promise<void> {
    traceVmStateNotify(running, state);
    const list = running ? this.registrations : [...this.registrations].reverse();
    const failures: ChangeHandlerFailure[] = [];
    for (const phase of ['prepare', 'change'] as const) {
      for (const { handler, options } of list) {
        const callback = handler[phase];
        if (!callback) continue;
        try {
          await callback.call(handler, running, state);
        } catch (error) {
          failures.push({ phase, name: options.name, entry: options.entry, error });
        }
      }
    }
    if (failures.length > 0) throw new RunStateChangeError(running, state, failures);
  }
}
