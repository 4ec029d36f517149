import { describe, expect, it } from 'vitest';
import {
  Errno,
  MigState,
  VfioMigrationFlags,
  VfioSyscallError,
  nextMigrationStep,
  type VfioDevice,
} from '../src/index.js';
import { migrationPath } from '../src/uapi/fsm.js';
import { createEmulatedDevice } from '../src/emulated/index.js';
import { stopCopyImage } from './helpers.js';

// ---- The table of docs/design/vfio-uapi.md §3, transcribed independently of src/ ----------
const NAMES = ['ERROR', 'STOP', 'RUNNING', 'STOP_COPY', 'RESUMING', 'RUNNING_P2P', 'PRE_COPY', 'PRE_COPY_P2P'] as const;
type Name = (typeof NAMES)[number];
const COLS: Name[] = ['STOP', 'RUNNING', 'STOP_COPY', 'RESUMING', 'RUNNING_P2P', 'PRE_COPY', 'PRE_COPY_P2P'];
const abbrev: Record<string, Name> = { R_P2P: 'RUNNING_P2P', PC_P2P: 'PRE_COPY_P2P' };
const ROWS: Record<Exclude<Name, 'ERROR'>, string> = {
  STOP: 'STOP R_P2P STOP_COPY RESUMING R_P2P R_P2P R_P2P',
  RUNNING: 'R_P2P RUNNING R_P2P R_P2P R_P2P PRE_COPY R_P2P',
  STOP_COPY: 'STOP STOP STOP_COPY STOP STOP ERROR ERROR',
  RESUMING: 'STOP STOP STOP RESUMING STOP STOP STOP',
  RUNNING_P2P: 'STOP RUNNING STOP STOP R_P2P RUNNING PC_P2P',
  PRE_COPY: 'RUNNING RUNNING PC_P2P RUNNING RUNNING PRE_COPY PC_P2P',
  PRE_COPY_P2P: 'R_P2P R_P2P STOP_COPY R_P2P R_P2P PRE_COPY PC_P2P',
};
function specNext(cur: Name, target: Name): Name {
  if (cur === 'ERROR' || target === 'ERROR') return 'ERROR';
  const cell = ROWS[cur].split(' ')[COLS.indexOf(target)] ?? 'ERROR';
  return abbrev[cell] ?? (cell as Name);
}
const REQUIRED: Record<Name, string[]> = {
  ERROR: ['never'],
  STOP: ['STOP_COPY'],
  RUNNING: ['STOP_COPY'],
  STOP_COPY: ['STOP_COPY'],
  RESUMING: ['STOP_COPY'],
  RUNNING_P2P: ['STOP_COPY', 'P2P'],
  PRE_COPY: ['STOP_COPY', 'PRE_COPY'],
  PRE_COPY_P2P: ['STOP_COPY', 'P2P', 'PRE_COPY'],
};
const supports = (features: string[], s: Name): boolean => REQUIRED[s].every((f) => features.includes(f));

/** The algorithm of vfio-uapi.md §3, walked with the fix: resulting state, errno and arcs. */
function expected(features: string[], from: Name, target: number): { state: Name; errno: number; arcs: [Name, Name][] } {
  const arcs: [Name, Name][] = [];
  const targetName = NAMES[target];
  let cur = from;
  while (targetName === undefined || cur !== targetName) {
    if (targetName === undefined || !supports(features, targetName) || !supports(features, cur)) return { state: cur, errno: Errno.EINVAL, arcs };
    let next = specNext(cur, targetName);
    while (next !== 'ERROR' && !supports(features, next)) next = specNext(next, targetName);
    if (next === 'ERROR') return { state: cur, errno: Errno.EINVAL, arcs };
    arcs.push([cur, next]);
    cur = next;
  }
  if (!supports(features, cur)) return { state: cur, errno: Errno.EINVAL, arcs };
  return { state: cur, errno: 0, arcs };
}

const COMBOS: Array<{ label: string; features: string[]; flags: number }> = [
  { label: 'STOP_COPY', features: ['STOP_COPY'], flags: VfioMigrationFlags.STOP_COPY },
  { label: 'STOP_COPY|P2P', features: ['STOP_COPY', 'P2P'], flags: VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P },
  { label: 'STOP_COPY|PRE_COPY', features: ['STOP_COPY', 'PRE_COPY'], flags: VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.PRE_COPY },
  { label: 'all three', features: ['STOP_COPY', 'P2P', 'PRE_COPY'], flags: 7 },
];
const TARGETS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 0xffffffff];
const OPENS_FILE = new Set(['RUNNING>PRE_COPY', 'RUNNING_P2P>PRE_COPY_P2P', 'STOP>STOP_COPY', 'STOP>RESUMING']);

describe('next-step table and paths (pure)', () => {
  for (const combo of COMBOS) {
    it(`${combo.label}: every (from, to) pair`, () => {
      for (const from of NAMES) {
        for (const target of TARGETS) {
          const want = expected(combo.features, from, target);
          const path = migrationPath(combo.flags, NAMES.indexOf(from), target);
          expect({ from, target, ok: path.ok, steps: path.steps.map((s) => NAMES[s]) }).toEqual({
            from,
            target,
            ok: want.errno === 0,
            steps: want.arcs.map(([, to]) => to),
          });
        }
      }
    });
  }
  it('stops on ERROR for blocked arcs instead of looping (2026 fix)', () => {
    expect(nextMigrationStep(7, MigState.STOP_COPY, MigState.PRE_COPY)).toEqual({ ok: false });
    expect(nextMigrationStep(7, MigState.STOP_COPY, MigState.PRE_COPY_P2P)).toEqual({ ok: false });
    expect(nextMigrationStep(5, MigState.STOP_COPY, MigState.PRE_COPY)).toEqual({ ok: false });
  });
  it('multi-step paths named in vfio-uapi.md §3 (all features)', () => {
    const names = (from: MigState, to: MigState): string[] => migrationPath(7, from, to).steps.map((s) => NAMES[s] ?? '?');
    expect(names(MigState.PRE_COPY, MigState.STOP_COPY)).toEqual(['PRE_COPY_P2P', 'STOP_COPY']);
    expect(names(MigState.RUNNING, MigState.STOP_COPY)).toEqual(['RUNNING_P2P', 'STOP', 'STOP_COPY']);
    expect(names(MigState.RESUMING, MigState.RUNNING)).toEqual(['STOP', 'RUNNING_P2P', 'RUNNING']);
    expect(names(MigState.STOP_COPY, MigState.RUNNING)).toEqual(['STOP', 'RUNNING_P2P', 'RUNNING']);
    // without P2P the stepping stones are skipped: direct arcs
    expect(migrationPath(1, MigState.RUNNING, MigState.STOP).steps).toEqual([MigState.STOP]);
    expect(migrationPath(5, MigState.PRE_COPY, MigState.STOP_COPY).steps).toEqual([MigState.STOP_COPY]);
  });
});

describe('emulated device: every (from, to) pair through SET MIG_DEVICE_STATE', async () => {
  const image = await stopCopyImage({ stateSize: 8192, seed: 3 });

  async function deviceIn(flags: number, from: Name): Promise<{ device: VfioDevice; arcsBefore: number; model: ReturnType<typeof createEmulatedDevice>['model'] }> {
    const setup = createEmulatedDevice({ migrationFlags: flags, stateSize: 8192, seed: 3 });
    if (from !== 'RUNNING') {
      const { dataFile } = setup.device.setState(NAMES.indexOf(from) as MigState);
      if (from === 'RESUMING') await dataFile?.write(image);
    }
    return { device: setup.device, arcsBefore: setup.model.arcLog.length, model: setup.model };
  }

  for (const combo of COMBOS) {
    it(`${combo.label}: resulting state, errno and data file`, async () => {
      for (const from of NAMES) {
        if (!supports(combo.features, from)) continue;
        for (const target of TARGETS) {
          const want = expected(combo.features, from, target);
          const { device, arcsBefore, model } = await deviceIn(combo.flags, from);
          let errno = 0;
          let hasFile = false;
          try {
            hasFile = device.setState(target as MigState).dataFile !== undefined;
          } catch (error) {
            errno = (error as VfioSyscallError).errnoNumber;
          }
          const last = want.arcs[want.arcs.length - 1];
          expect({ from, target, errno, state: NAMES[device.getState()], hasFile }).toEqual({
            from,
            target,
            errno: want.errno,
            state: want.state,
            hasFile: want.errno === 0 && last !== undefined && OPENS_FILE.has(`${last[0]}>${last[1]}`),
          });
          expect(model.arcLog.slice(arcsBefore).map(([a, b]) => [NAMES[a], NAMES[b]])).toEqual(want.arcs);
          device.close();
        }
      }
    });
  }

  it('a device without migration answers ENOTTY', () => {
    for (const config of [{ migrationFlags: 0 }, { protocol: 'none' as const }, { protocol: 'v1' as const }]) {
      const { device } = createEmulatedDevice(config);
      expect(() => device.getMigrationFlags()).toThrow(expect.objectContaining({ errno: 'ENOTTY', errnoNumber: Errno.ENOTTY }));
      expect(() => device.getState()).toThrow(expect.objectContaining({ errno: 'ENOTTY' }));
      expect(() => device.getStopCopySize()).toThrow(expect.objectContaining({ errno: 'ENOTTY' }));
      expect(device.probeMigrationFlags()).toBeUndefined();
      device.close();
    }
  });

  it('reports its flags for each combination', () => {
    for (const combo of COMBOS) {
      const { device } = createEmulatedDevice({ migrationFlags: combo.flags });
      expect(device.getMigrationFlags()).toBe(combo.flags);
      expect(device.getState()).toBe(MigState.RUNNING);
      device.close();
    }
  });
});
