import { ByteArrayWriter, MemoryWriteChannel, QemuFileWriter, writeSectionFooter, writeSectionFull } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { MigrationError, SaveStateRegistry } from '../src/index.js';
import { callHook, cleanUpEvery } from '../src/driver/hooks.js';
import { SectionWriter } from '../src/driver/source/section-writer.js';
import { StatusPublisher, createInfoSubject } from '../src/driver/status-publisher.js';
import { FakeClock } from './helpers/fake-clock.js';

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
