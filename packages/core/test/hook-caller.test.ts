import { ByteArrayWriter, MemoryWriteChannel, QemuFileWriter, writeSectionFooter, writeSectionFull } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { MigrationError, RunState, SaveStateRegistry, type SaveVMHandlers } from '../src/index.js';
import { callHook, cleanUpEvery } from '../src/driver/hooks.js';
import { SectionWriter } from '../src/driver/source/section-writer.js';
import { StatusPublisher, createInfoSubject } from '../src/driver/status-publisher.js';
import { FakeClock } from './helpers/fake-clock.js';
import { World, readerOf, saveToMemory } from './helpers/world.js';

function entries(): SaveStateRegistry {
  const registry = new SaveStateRegistry();
  registry.register('a', 0, 1, {});
  registry.register('b', 0, 1, {});
  return registry;
}

describe('the hook caller', () => {
  it('returns a synchronous hook\'s value as it is, and a promise only for a hook that returned one', async () => {
    const [e] = entries().list();
    if (e === undefined) throw new Error('no entry');
    expect(callHook('save-setup', 'saveSetup', e, () => 7)).toBe(7);
    const later = callHook('save-setup', 'saveSetup', e, () => Promise.resolve(8));
    expect(later).toBeInstanceOf(Promise);
    expect(await later).toBe(8);
  });

  it('shapes a throw and a rejection alike: a MigrationError naming the phase, the entry, the hook and the place', async () => {
    const [e] = entries().list();
    if (e === undefined) throw new Error('no entry');
    const fail = (): never => {
      throw new Error('boom');
    };
    let thrown: unknown;
    try {
      callHook('load-state', 'loadState', e, fail, () => ({ offset: 42 }));
    } catch (err) {
      thrown = err;
    }
    const rejected = await (callHook('load-state', 'loadState', e, () => Promise.reject(new Error('boom')), () => ({ offset: 42 })) as Promise<unknown>).catch((err: unknown) => err);
    for (const err of [thrown, rejected]) {
      expect(err).toBeInstanceOf(MigrationError);
      expect(err).toMatchObject({ phase: 'load-state', hook: 'loadState', entry: { idstr: 'a', instanceId: 0 }, offset: 42, reason: 'DEVICE_FAILED' });
    }
  });

  it('cleans up every entry, in order, past a failing one, and returns the failures', async () => {
    const called: string[] = [];
    const failures = await cleanUpEvery(entries().list(), {
      hook: 'saveCleanup',
      phase: 'save-cleanup',
      tracePoint: 'savevm_state_cleanup',
      invoke: (e) => {
        called.push(e.idstr);
        if (e.idstr === 'a') throw new Error('no');
      },
    });
    expect(called).toEqual(['a', 'b']);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ phase: 'save-cleanup', hook: 'saveCleanup', entry: { idstr: 'a' } });
  });
});

describe('the section writer', () => {
  it('writes header, body and footer, counts the entry\'s bytes and tells the body\'s size', async () => {
    const list = entries().list();
    const e = list[1];
    if (e === undefined) throw new Error('no entry');
    const channel = new MemoryWriteChannel();
    const f = new QemuFileWriter(channel);
    const status = new StatusPublisher({ side: 'source', entries: list, clock: new FakeClock(), infos: createInfoSubject() });
    const writer = new SectionWriter({ f, status, failOnStreamError: () => undefined });
    let bodyBytes = -1;
    const done = writer.write({ kind: 'full', index: 1, entry: e, body: () => f.putBe32(0xdeadbeef), bodyWritten: (n) => (bodyBytes = n) });
    expect(done).toBeUndefined(); // a synchronous hook: no promise
    const expected = new ByteArrayWriter(32);
    writeSectionFull(expected, { sectionId: e.sectionId, idstr: 'b', instanceId: 0, versionId: 1 });
    expected.putBe32(0xdeadbeef);
    writeSectionFooter(expected, e.sectionId);
    expect(bodyBytes).toBe(4);
    expect(f.bytesWritten).toBe(expected.bytes().length);
    await f.flush();
    expect(Buffer.from(channel.bytes())).toEqual(expected.bytes());
    expect(status.info().entries.map((x) => x.bytes)).toEqual([0, expected.bytes().length]);
  });
});

describe('a round of PART sections', () => {
  it('waits for an asynchronous saveLiveIterate after an entry that said it is not drained, before the next entry\'s section', async () => {
    /** Writes `mark` at setup and each round (the second entry only after a turn of the event loop); reads them back. */
    const device = (mark: number, later: boolean, rounds: { n: number }, loaded: number[]): SaveVMHandlers => ({
      saveSetup: (f) => f.putBe32(0),
      statePendingEstimate: () => ({ mustPrecopy: rounds.n < 3 ? 1_000_000 : 0, canPostcopy: 0 }),
      saveLiveIterate: later
        ? async (f) => {
            await new Promise((resolve) => setImmediate(resolve));
            f.putBe32(mark);
            return true;
          }
        : (f) => {
            rounds.n++;
            f.putBe32(mark);
            return false; // not drained: the next entry's answer no longer changes the round's
          },
      loadState: async (f) => {
        loaded.push(await f.getBe32('mark'));
      },
    });
    const src = new World(RunState.RUNNING);
    const dst = new World(RunState.INMIGRATE);
    const rounds = { n: 0 };
    const loaded: number[] = [];
    for (const [world, sink] of [[src, [] as number[]], [dst, loaded]] as const) {
      world.registry.register('first', 0, 1, device(1, false, rounds, sink));
      world.registry.register('second', 0, 1, device(2, true, rounds, sink));
      world.registry.register('third', 0, 1, device(3, false, { n: 0 }, sink));
    }
    const { bytes } = await saveToMemory(src);
    expect((await dst.destination.load(readerOf(bytes))).status).toBe('completed');
    expect(loaded.filter((m) => m === 2)).toHaveLength(loaded.filter((m) => m === 1).length);
    expect(loaded.filter((m) => m === 3)).toHaveLength(loaded.filter((m) => m === 1).length);
  });
});
