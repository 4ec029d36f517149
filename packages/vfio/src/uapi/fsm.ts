/**
 * The v2 migration state machine as data (docs/design/vfio-uapi.md §3): the kernel's next-step table
 * (`vfio_mig_get_next_state`), the flags each state needs, and the path resolver including
 * the 2026 fix (stop on ERROR and answer EINVAL instead of looping).
 */
import { MIG_STATE_COUNT, MigState, VfioMigrationFlags } from './constants.js';

const { ERROR, STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P } = MigState;

/**
 * NEXT_STEP[cur][target]: the next state on the way from `cur` to `target`, before skipping
 * states the device does not support. Row and column order is the state value order.
 */
export const NEXT_STEP: readonly (readonly MigState[])[] = [
  /* ERROR */ [ERROR, ERROR, ERROR, ERROR, ERROR, ERROR, ERROR, ERROR],
  /* STOP */ [ERROR, STOP, RUNNING_P2P, STOP_COPY, RESUMING, RUNNING_P2P, RUNNING_P2P, RUNNING_P2P],
  /* RUNNING */ [ERROR, RUNNING_P2P, RUNNING, RUNNING_P2P, RUNNING_P2P, RUNNING_P2P, PRE_COPY, RUNNING_P2P],
  /* STOP_COPY */ [ERROR, STOP, STOP, STOP_COPY, STOP, STOP, ERROR, ERROR],
  /* RESUMING */ [ERROR, STOP, STOP, STOP, RESUMING, STOP, STOP, STOP],
  /* RUNNING_P2P */ [ERROR, STOP, RUNNING, STOP, STOP, RUNNING_P2P, RUNNING, PRE_COPY_P2P],
  /* PRE_COPY */ [ERROR, RUNNING, RUNNING, PRE_COPY_P2P, RUNNING, RUNNING, PRE_COPY, PRE_COPY_P2P],
  /* PRE_COPY_P2P */ [ERROR, RUNNING_P2P, RUNNING_P2P, STOP_COPY, RUNNING_P2P, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P],
];

/** Migration flags a state requires (`state_flags_table`); ERROR requires all bits (never satisfied). */
export const STATE_REQUIRED_FLAGS: readonly number[] = [
  /* ERROR */ 0xffffffff,
  /* STOP */ VfioMigrationFlags.STOP_COPY,
  /* RUNNING */ VfioMigrationFlags.STOP_COPY,
  /* STOP_COPY */ VfioMigrationFlags.STOP_COPY,
  /* RESUMING */ VfioMigrationFlags.STOP_COPY,
  /* RUNNING_P2P */ VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P,
  /* PRE_COPY */ VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.PRE_COPY,
  /* PRE_COPY_P2P */ VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P | VfioMigrationFlags.PRE_COPY,
];

/** Whether a device with `flags` supports `state` (ERROR never counts as supported). */
export function isStateSupported(flags: number, state: number): boolean {
  if (!Number.isInteger(state) || state < 0 || state >= MIG_STATE_COUNT) return false;
  const required = STATE_REQUIRED_FLAGS[state] ?? 0xffffffff;
  return ((flags & required) >>> 0) === required >>> 0;
}

/** Result of one next-step query: the next state, or EINVAL. */
export type NextStep =
  | {
      /** The step is allowed. */
      readonly ok: true;
      /** The state to step to next on the way to the target. */
      readonly next: MigState;
    }
  | {
      /** No step: the kernel would answer EINVAL. */
      readonly ok: false;
    };

/**
 * One step of `vfio_mig_get_next_state`: the next supported state from `cur` towards `target`,
 * skipping unsupported stepping stones. `{ ok: false }` (EINVAL) when cur or target is
 * unsupported or out of range, or when the walk reaches ERROR (blocked arc).
 */
export function nextMigrationStep(flags: number, cur: number, target: number): NextStep {
  if (!isStateSupported(flags, cur)) return { ok: false };
  if (!isStateSupported(flags, target)) return { ok: false };
  let next = NEXT_STEP[cur]?.[target] ?? ERROR;
  // Skip stepping stones the device lacks. Stop on ERROR: its row maps everything to ERROR.
  while (next !== ERROR && !isStateSupported(flags, next)) {
    next = NEXT_STEP[next]?.[target] ?? ERROR;
  }
  return next === ERROR ? { ok: false } : { ok: true, next };
}

/**
 * The whole path of arcs from `cur` to `target` (excluding `cur`), as the kernel would walk it
 * one step at a time. When a step answers EINVAL, `ok` is false and `steps` holds the states
 * reached before that step.
 */
export function migrationPath(
  flags: number,
  cur: number,
  target: number,
): {
  /** The states stepped through, ending at the target when `ok`. */
  readonly steps: readonly MigState[];
  /** Whether the target is reachable; false when some step answers EINVAL. */
  readonly ok: boolean;
} {
  const steps: MigState[] = [];
  let at = cur;
  // A path never needs more arcs than there are states.
  for (let guard = 0; at !== target && guard <= MIG_STATE_COUNT; guard++) {
    const step = nextMigrationStep(flags, at, target);
    if (!step.ok) return { steps, ok: false };
    steps.push(step.next);
    at = step.next;
  }
  if (at === target && isStateSupported(flags, target)) return { steps, ok: true };
  return { steps, ok: false };
}

/** Arcs that start a data session and return a new data_fd: `${from}>${to}`. */
export function arcOpensDataFile(from: MigState, to: MigState): 'saving' | 'resuming' | undefined {
  if (from === RUNNING && to === PRE_COPY) return 'saving';
  if (from === RUNNING_P2P && to === PRE_COPY_P2P) return 'saving';
  if (from === STOP && to === STOP_COPY) return 'saving';
  if (from === STOP && to === RESUMING) return 'resuming';
  return undefined;
}

/** Whether a state belongs to the saving group (PRE_COPY, PRE_COPY_P2P, STOP_COPY). */
export function isSavingState(state: number): boolean {
  return state === PRE_COPY || state === PRE_COPY_P2P || state === STOP_COPY;
}

/** Whether a state is a pre-copy state (PRE_COPY or PRE_COPY_P2P). */
export function isPreCopyState(state: number): boolean {
  return state === PRE_COPY || state === PRE_COPY_P2P;
}

/** Whether the device runs (changes its own state) in this state. */
export function isRunningState(state: number): boolean {
  return state === RUNNING || state === RUNNING_P2P || state === PRE_COPY || state === PRE_COPY_P2P;
}
