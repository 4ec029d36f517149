import { describe, expect, it } from 'vitest';
import { MigrationCancelledError, MigrationError, RunState, type SaveVMHook } from '../src/index.js';
import { BlobDevice } from './helpers/devices.js';
import { ProbeDevice, countOf } from './helpers/probe-device.js';
import { World, saveToMemory } from './helpers/world.js';

/** A running source with probes `a`, `b` (live) and a non-live blob, plus a run-state handler logging into `events`. */
function sourceWith(onHook: (name: string) => (hook: SaveVMHook) => void | Promise<void>) {
  const events: string[] = [];
  const src = new World(RunState.RUNNING);
  const a = new ProbeDevice('a', events, onHook('a'));
  const b = new ProbeDevice('b', events, onHook('b'));
  const blob = new BlobDevice(Buffer.from('blob'));
  src.registry.register('a', 0, 1, a);
  src.registry.register('b', 0, 1, b);
  src.registry.register('blob', 0, 1, blob);
  src.runState.addChangeHandler({
    prepare: (running) => void events.push(running ? 'vm:prepare-start' : 'vm:prepare-stop'),
    change: (running) => void events.push(running ? 'vm:start' : 'vm:stop'),
  });
  return { src, events, blob };
}

function expectCleanedUpOnceAndRunning(src: World, events: string[], blob: BlobDevice): void {
  expect(countOf(events, 'a:saveCleanup')).toBe(1);
  expect(countOf(events, 'b:saveCleanup')).toBe(1);
  expect(blob.log.count('saveCleanup')).toBe(1);
  expect(src.runState.state).toBe(RunState.RUNNING);
}

describe('cancel', () => {
  it.each([
    ['save-setup', 'saveSetup'],
    ['iterate', 'saveLiveIterate'],
    ['complete-precopy', 'saveLiveCompletePrecopy'],
  ] as const)('in %s: source running again, cleanup once per entry (even where setup never ran)', async (phase, hook) => {
    let world: World | undefined;
    const { src, events, blob } = sourceWith((name) => (h) => {
      if (name === 'a' && h === hook) expect(world!.source.cancel()).toBe(true);
    });
    world = src;
    const error = await saveToMemory(src).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationCancelledError);
    expect((error as MigrationCancelledError).cancelledDuring).toBe(phase);
    expect((error as MigrationCancelledError).errno).toBe('ECANCELED');
    expect((error as MigrationCancelledError).reason).toBe('CANCELLED');
    expectCleanedUpOnceAndRunning(src, events, blob);
    expect(src.sourceStatuses.slice(-2)).toEqual(['cancelling', 'cancelled']);
    expect(src.source.info.status).toBe('cancelled');
    if (phase === 'save-setup') {
      // b's setup never ran, its cleanup still did
      expect(countOf(events, 'b:saveSetup')).toBe(0);
    }
    if (phase === 'complete-precopy') {
      // the VM was stopped for switchover and started again BEFORE save_cleanup (as QEMU)
      expect(events.indexOf('vm:stop')).toBeGreaterThan(-1);
      expect(events.indexOf('vm:start')).toBeGreaterThan(events.indexOf('vm:stop'));
      expect(events.indexOf('vm:start')).toBeLessThan(events.indexOf('a:saveCleanup'));
    } else {
      expect(events).not.toContain('vm:stop');
    }
    expect(src.source.cancel()).toBe(false); // nothing running any more
  });
});

describe('a handler throwing in each hook', () => {
  it.each([
    ['savePrepare', 'save-prepare'],
    ['saveSetup', 'save-setup'],
    ['statePendingEstimate', 'pending-estimate'],
    ['statePendingExact', 'pending-exact'],
    ['saveLiveIterate', 'iterate'],
    ['saveLiveCompletePrecopy', 'complete-precopy'],
    ['saveState', 'save-state'],
  ] as const)('%s → FAILED naming entry b, the hook and the phase %s', async (hook, phase) => {
    const { src, events, blob } = sourceWith((name) => (h) => {
      if (name === 'b' && h === hook) throw Object.assign(new Error(`boom in ${h}`), { code: 'EIO' });
    });
    const error = await saveToMemory(src).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    const e = error as MigrationError;
    expect(e.phase).toBe(phase);
    expect(e.hook).toBe(hook);
    expect(e.entry).toEqual({ idstr: 'b', instanceId: 0 });
    expect(e.errno).toBe('EIO');
    expect(e.reason).toBe('DEVICE_FAILED');
    expect(e.message).toContain('"b"');
    expect(e.message).toContain(hook);
    expect((e.cause as Error).message).toBe(`boom in ${hook}`);
    expect(src.sourceStatuses.at(-1)).toBe('failed');
    expectCleanedUpOnceAndRunning(src, events, blob);
    if (events.includes('vm:stop')) expect(events.indexOf('vm:start')).toBeLessThan(events.indexOf('a:saveCleanup'));
  });

  it('a run-state change handler failing at switchover fails the migration naming its entry; the VM runs again', async () => {
    const { src, events, blob } = sourceWith(() => () => undefined);
    src.runState.addChangeHandler(
      { change: (running) => { if (!running) throw new Error('device refused to stop'); } },
      { entry: { idstr: 'a', instanceId: 0 }, name: 'a' },
    );
    const error = (await saveToMemory(src).catch((e: unknown) => e)) as MigrationError;
    expect(error.phase).toBe('switchover');
    expect(error.reason).toBe('DEVICE_FAILED');
    expect(error.entry).toEqual({ idstr: 'a', instanceId: 0 });
    expect(error.message).toMatch(/device refused to stop/);
    expectCleanedUpOnceAndRunning(src, events, blob);
  });

  it('a throwing saveCleanup does not fail a completed migration; it is reported as a warning', async () => {
    const { src, blob } = sourceWith(() => () => undefined);
    blob.saveCleanup = () => {
      throw new Error('cleanup trouble');
    };
    const { info } = await saveToMemory(src);
    expect(info.status).toBe('completed');
    expect(info.warnings.join()).toMatch(/cleanup trouble/);
  });

  it('a second migrate while one runs is refused with busy', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { src } = sourceWith((name) => async (h) => {
      if (name === 'a' && h === 'saveSetup') await gate;
    });
    const first = saveToMemory(src);
    const second = (await saveToMemory(src).catch((e: unknown) => e)) as MigrationError;
    expect(second.phase).toBe('busy');
    expect(second.reason).toBe('BLOCKED');
    release();
    expect((await first).info.status).toBe('completed');
  });

  it('a migration blocker makes migrate fail before setup with its reason', async () => {
    const { src, events } = sourceWith(() => () => undefined);
    const blocker = src.blockers.add('device x has no migration support', 'x');
    const error = (await saveToMemory(src).catch((e: unknown) => e)) as MigrationError;
    expect(error.phase).toBe('blocked');
    expect(error.reason).toBe('BLOCKED');
    expect(error.message).toContain('x: device x has no migration support');
    expect(events).toEqual([]);
    expect(src.sourceStatuses).toEqual(['none']);
    blocker.dispose();
    expect((await saveToMemory(src)).info.status).toBe('completed');
  });

  it('migration-status hooks see setup then done, or setup then failed; a setup refusal aborts', async () => {
    const { src } = sourceWith(() => () => undefined);
    const seen: string[] = [];
    src.notifiers.add((e) => void seen.push(e.type));
    await saveToMemory(src);
    expect(seen).toEqual(['precopy-setup', 'precopy-done']);
    seen.length = 0;
    const refusal = src.notifiers.add((e) => {
      if (e.type === 'precopy-setup') throw new Error('not now');
    });
    const error = (await saveToMemory(src).catch((e: unknown) => e)) as MigrationError;
    expect(error.phase).toBe('setup-notify');
    expect(error.reason).toBe('INTERNAL');
    expect(seen).toEqual(['precopy-setup', 'precopy-failed']);
    refusal.dispose();
  });
});
