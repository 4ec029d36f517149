/**
 * The v2 migration uAPI of the emulated device (VFIO_DEVICE_FEATURE MIG_DEVICE_STATE): the
 * state machine walked one arc at a time with the kernel's own next-step table, the data
 * sessions its arcs open and close, PRECOPY_INFO and MIG_DATA_SIZE (docs/design/vfio-uapi.md §3, §5).
 */
import { Errno } from '../../errors.js';
import { MigState, VfioMigrationFlags, isMigState } from '../../uapi/constants.js';
import { isPreCopyState, isRunningState, isStateSupported, nextMigrationStep } from '../../uapi/fsm.js';
import type { EmulatedSession } from '../data-session-slot.js';
import { fullImageSize } from '../image-format.js';
import type { RegionBacking } from '../device-regions.js';
import type { MigrationInterface, MigrationParts } from '../migration-interface.js';
import { ResumeSession } from '../resume-session.js';
import { SaveSession } from '../save-session.js';

/** Result of a SET MIG_DEVICE_STATE on the model. */
export type SetStateOutcome =
  | {
      /** The device reached the target state. */
      readonly ok: true;
      /** The session the final arc opened (the data_fd's model), if it opened one. */
      readonly session?: EmulatedSession;
    }
  | {
      /** The SET failed; the device stays where the failing arc left it. */
      readonly ok: false;
      /** The errno the ioctl answers (EINVAL for a bad target or blocked arc). */
      readonly errno: number;
    };

/** The v2 state machine of one emulated device. */
export class V2StateMachine implements MigrationInterface {
  /** None: v2 migration adds no region. */
  readonly regions: readonly RegionBacking[] = [];
  #state: MigState = MigState.RUNNING;

  /**
   * @param migrationFlags the `VfioMigrationFlags` the device supports (0: no v2 migration)
   * @param parts the device's state, session, faults and arc log
   */
  constructor(
    readonly migrationFlags: number,
    private readonly parts: MigrationParts,
  ) {}

  /** The current state. */
  get state(): MigState {
    return this.#state;
  }

  /** The current state, for the DMA log. */
  get stateValue(): number {
    return this.#state;
  }

  /** Whether the device runs in the current state. */
  isRunning(): boolean {
    return isRunningState(this.#state);
  }

  /** Back to RUNNING. */
  reset(): void {
    this.#state = MigState.RUNNING;
  }

  /** MIG_DATA_SIZE: the size of a one-pass STOP_COPY image (same in every state). */
  stopCopyLength(): number {
    return fullImageSize(this.parts.stateSize, this.parts.pageSize);
  }

  /**
   * SET MIG_DEVICE_STATE: walks the kernel's path one arc at a time. EINVAL for an unsupported
   * target or a blocked arc; on a failing arc the device stays where that arc left it.
   */
  setState(target: number): SetStateOutcome {
    let session: EmulatedSession | undefined;
    // A path never has more arcs than there are states.
    for (let guard = 0; this.#state !== target; guard++) {
      if (guard > 8) return { ok: false, errno: Errno.EINVAL };
      const step = nextMigrationStep(this.migrationFlags, this.#state, target);
      if (!step.ok) return { ok: false, errno: Errno.EINVAL };
      if (session !== undefined) return { ok: false, errno: Errno.EINVAL }; // a file from an intermediate arc
      const result = this.#arc(this.#state, step.next);
      if (!result.ok) return result;
      session = result.session;
    }
    if (!isStateSupported(this.migrationFlags, target)) return { ok: false, errno: Errno.EINVAL };
    return session !== undefined ? { ok: true, session } : { ok: true };
  }

  /** PRECOPY_INFO on a data file of `session`: `[initial, dirty]` or −errno. */
  precopyInfo(session: EmulatedSession): readonly [number, number] | number {
    // mtty's order: no ioctl on a resuming file; the device must be in pre-copy; then a
    // file whose session is over (or was replaced) answers ENODEV.
    if ((this.migrationFlags & VfioMigrationFlags.PRE_COPY) === 0) return -Errno.ENOTTY;
    if (!(session instanceof SaveSession)) return -Errno.ENOTTY;
    if (!isPreCopyState(this.#state)) return -Errno.EINVAL;
    if (session.ended || session !== this.parts.sessions.current) return -Errno.ENODEV;
    return [session.initialBytes(), session.dirtyBytes()];
  }

  #arc(from: MigState, to: MigState): SetStateOutcome {
    const { sessions } = this.parts;
    const fault = this.parts.faults.arcs.take(from, to);
    if (fault !== undefined) {
      const leaveIn = fault.leaveIn ?? from;
      if (leaveIn !== from) {
        if (isMigState(leaveIn)) this.#state = leaveIn;
        if (leaveIn === MigState.ERROR) sessions.end();
      }
      return { ok: false, errno: fault.errno };
    }
    let session: EmulatedSession | undefined;
    const { STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P } = MigState;
    if ((from === RUNNING && to === PRE_COPY) || (from === RUNNING_P2P && to === PRE_COPY_P2P)) {
      session = sessions.start(new SaveSession(this.parts.state, false));
    } else if (from === STOP && to === STOP_COPY) {
      session = sessions.start(new SaveSession(this.parts.state, true));
    } else if (from === STOP && to === RESUMING) {
      session = sessions.start(new ResumeSession(this.parts.stateSize, this.parts.pageSize));
    } else if (to === STOP_COPY && isPreCopyState(from)) {
      if (sessions.current instanceof SaveSession) sessions.current.enterFinalPhase();
    } else if (from === RESUMING) {
      const loaded = sessions.current instanceof ResumeSession ? sessions.current.validate() : undefined;
      if (loaded === undefined) return { ok: false, errno: Errno.EINVAL };
      this.parts.state.replace(loaded);
      sessions.end();
    } else if ((isPreCopyState(from) && !isPreCopyState(to)) || from === STOP_COPY) {
      sessions.end();
    }
    this.parts.arcLog.push([from, to]);
    this.#state = to;
    return session !== undefined ? { ok: true, session } : { ok: true };
  }
}
