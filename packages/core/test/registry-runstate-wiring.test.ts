import 'reflect-metadata';
import { Container } from 'inversify';
import {
  INSTANCE_ID_ANY,
  MemoryWriteChannel,
  QemuFileWriter,
  writeSectionEnd,
  writeSectionFooter,
  writeSectionFull,
  writeSectionPart,
  writeSectionStart,
} from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import {
  DEVICE_MIGRATION_ATTACHER,
  HANDLER_PROVIDER,
  MIGRATION_BLOCKERS,
  MIGRATION_SOURCE,
  NoHandlerProviderError,
  PROVIDER_SELECTOR,
  RUN_STATE_CONTROLLER,
  RegistrationError,
  RunState,
  RunStateChangeError,
  RunStateController,
  SAVE_STATE_REGISTRY,
  SaveStateRegistry,
  coreContainerModule,
  type BlockedDevice,
  type DeviceMigrationAttacher,
  type HandlerProvider,
  type MigrationBlockers,
  type MigrationError,
  type MigrationSource,
  type ProviderSelector,
  type SaveStateEntry,
} from '../src/index.js';
import { sectionHeadersOf } from '../src/driver/source/section-headers.js';

describe('registry', () => {
  it('assigns instance ids as QEMU does (max + 1, gaps not filled) and section ids from a counter', () => {
    const r = new SaveStateRegistry();
    expect(r.register('dma', INSTANCE_ID_ANY, 1, {}).instanceId).toBe(0);
    expect(r.register('dma', 5, 1, {}).instanceId).toBe(5);
    expect(r.register('dma', INSTANCE_ID_ANY, 1, {}).instanceId).toBe(6);
    expect(r.register('other', INSTANCE_ID_ANY, 1, {}).instanceId).toBe(0);
    expect(r.list().map((e) => e.sectionId)).toEqual([0, 1, 2, 3]);
  });

  it('refuses duplicates and bad ids; unregister frees the pair; lists are snapshots', () => {
    const r = new SaveStateRegistry();
    const e = r.register('timer', 0, 2, {});
    expect(() => r.register('timer', 0, 1, {})).toThrow(RegistrationError);
    expect(() => r.register('x'.repeat(256), 0, 1, {})).toThrow(/longer than 255/);
    expect(() => r.register('v', 0, 1, {}, { minimumVersionId: 2 })).toThrow(/minimum version 2/);
    const before = r.list();
    expect(r.unregister(e)).toBe(true);
    expect(r.unregister(e)).toBe(false);
    expect(before).toHaveLength(1);
    expect(r.list()).toHaveLength(0);
    expect(r.register('timer', 0, 2, {}).sectionId).toBe(1); // the counter never goes back
  });

  it('orders by priority, highest first, FIFO within a priority', () => {
    const r = new SaveStateRegistry();
    r.register('a', 0, 1, {});
    r.register('b', 0, 1, {}, { priority: 5 });
    r.register('c', 0, 1, {});
    r.register('d', 0, 1, {}, { priority: 5 });
    expect(r.list().map((e) => e.idstr)).toEqual(['b', 'd', 'a', 'c']);
  });

  it('cached section headers are byte-identical to the stream grammar writers', async () => {
    const r = new SaveStateRegistry();
    r.register('pad', 0, 1, {});
    const e = r.register('0000:00:03.0/vfio', 7, 3, {}) as SaveStateEntry;
    const encode = async (write: (f: QemuFileWriter) => void): Promise<Buffer> => {
      const ch = new MemoryWriteChannel();
      const f = new QemuFileWriter(ch);
      write(f);
      await f.flush();
      return ch.bytes();
    };
    const h = sectionHeadersOf(e);
    expect(h.start).toEqual(await encode((f) => writeSectionStart(f, e)));
    expect(h.full).toEqual(await encode((f) => writeSectionFull(f, e)));
    expect(h.part).toEqual(await encode((f) => writeSectionPart(f, e.sectionId)));
    expect(h.end).toEqual(await encode((f) => writeSectionEnd(f, e.sectionId)));
    expect(h.footer).toEqual(await encode((f) => writeSectionFooter(f, e.sectionId)));
  });
});

describe('run state', () => {
  it('runs every prepare before any change: ascending priority on start, descending on stop', async () => {
    const rs = new RunStateController(RunState.RUNNING);
    const log: string[] = [];
    for (const [name, priority] of [['bus', 0], ['dev1', 1], ['dev2', 1]] as const) {
      rs.addChangeHandler(
        {
          prepare: (running, state) => void log.push(`${name}:prepare:${running}:${state}`),
          change: (running) => void log.push(`${name}:change:${running}`),
        },
        { priority, name },
      );
    }
    await rs.stop(RunState.FINISH_MIGRATE);
    expect(rs.state).toBe('finish-migrate');
    expect(log).toEqual([
      'dev2:prepare:false:finish-migrate', 'dev1:prepare:false:finish-migrate', 'bus:prepare:false:finish-migrate',
      'dev2:change:false', 'dev1:change:false', 'bus:change:false',
    ]);
    log.length = 0;
    await rs.start();
    expect(log).toEqual([
      'bus:prepare:true:running', 'dev1:prepare:true:running', 'dev2:prepare:true:running',
      'bus:change:true', 'dev1:change:true', 'dev2:change:true',
    ]);
  });

  it('reports handler failures after running all of them; stopping a stopped VM only sets the state', async () => {
    const rs = new RunStateController(RunState.RUNNING);
    const ran: string[] = [];
    rs.addChangeHandler({ change: () => { ran.push('a'); throw new Error('a failed'); } }, { name: 'a' });
    rs.addChangeHandler({ prepare: () => { ran.push('b'); throw new Error('b failed'); } }, { name: 'b' });
    rs.addChangeHandler({ change: () => void ran.push('c') }, { name: 'c' });
    const error = (await rs.stop().catch((e: unknown) => e)) as RunStateChangeError;
    expect(error).toBeInstanceOf(RunStateChangeError);
    expect(error.failures.map((f) => `${f.name}:${f.phase}`)).toEqual(['b:prepare', 'a:change']);
    expect(ran).toEqual(['b', 'c', 'a']);
    ran.length = 0;
    await rs.stop(RunState.POSTMIGRATE);
    expect(ran).toEqual([]);
    expect(rs.state).toBe('postmigrate');
  });
});

class FakeDevice {
  constructor(readonly name: string, readonly kind: 'v2' | 'v1' | 'none') {}
  toString(): string {
    return this.name;
  }
}

function provider(name: string, priority: number, accepts: FakeDevice['kind'], log: string[]): HandlerProvider<FakeDevice> {
  return {
    name,
    priority,
    probe: (d) => {
      log.push(`${name}:probe`);
      return d.kind === accepts ? { accepted: true, reason: `${name} supports it` } : { accepted: false, reason: `${name}: not a ${accepts} device` };
    },
    create: (d) => ({
      idstr: `${d.name}/vfio`,
      versionId: 1,
      handlers: { saveState: (f) => f.putBe32(1) },
      runStateHandler: { prepare: () => void log.push(`${d.name}:p2p`) },
      migrationNotifier: (e) => void log.push(`${d.name}:${e.type}`),
    }),
  };
}

describe('wiring', () => {
  function container(log: string[]): Container {
    const c = new Container();
    c.load(coreContainerModule);
    c.bind<HandlerProvider>(HANDLER_PROVIDER).toConstantValue(provider('vfio-v1', 10, 'v1', log) as HandlerProvider);
    c.bind<HandlerProvider>(HANDLER_PROVIDER).toConstantValue(provider('vfio-v2', 20, 'v2', log) as HandlerProvider);
    return c;
  }

  it('probes providers in priority order and takes the first acceptance', async () => {
    const log: string[] = [];
    const selector = container(log).get<ProviderSelector>(PROVIDER_SELECTOR);
    expect(selector.providers.map((p) => p.name)).toEqual(['vfio-v2', 'vfio-v1']);
    const chosen = await selector.select(new FakeDevice('0000:00:03.0', 'v1'));
    expect(chosen.provider.name).toBe('vfio-v1');
    expect(log).toEqual(['vfio-v2:probe', 'vfio-v1:probe']);
  });

  it('when none accepts: one error listing every provider reason, or a blocker that stops migrate', async () => {
    const log: string[] = [];
    const c = container(log);
    const error = (await c.get<ProviderSelector>(PROVIDER_SELECTOR).select(new FakeDevice('gpu', 'none')).catch((e: unknown) => e)) as NoHandlerProviderError;
    expect(error).toBeInstanceOf(NoHandlerProviderError);
    expect(error.message).toBe('no handler provider accepts gpu: vfio-v2: vfio-v2: not a v2 device; vfio-v1: vfio-v1: not a v1 device');
    const blocked = (await c.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attachOrBlock(new FakeDevice('gpu', 'none'))) as BlockedDevice;
    expect(c.get<MigrationBlockers>(MIGRATION_BLOCKERS).list()).toHaveLength(1);
    const source = c.get<MigrationSource>(MIGRATION_SOURCE);
    const refused = (await source.migrate(new QemuFileWriter(new MemoryWriteChannel())).catch((e: unknown) => e)) as MigrationError;
    expect(refused.phase).toBe('blocked');
    expect(refused.message).toContain('gpu: no handler provider accepts gpu');
    blocked.blocker.dispose();
  });

  it('attach registers the handlers, the run-state handler (prepare phase) and the status hook; detach undoes it', async () => {
    const log: string[] = [];
    const c = container(log);
    const attached = await c.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach(new FakeDevice('0000:00:04.0', 'v2'));
    expect(attached.provider.name).toBe('vfio-v2');
    expect(attached.entry.idstr).toBe('0000:00:04.0/vfio');
    const registry = c.get<SaveStateRegistry>(SAVE_STATE_REGISTRY);
    expect(registry.list()).toEqual([attached.entry]);
    const runState = c.get<RunStateController>(RUN_STATE_CONTROLLER);
    await runState.start();
    const info = await c.get<MigrationSource>(MIGRATION_SOURCE).migrate(new QemuFileWriter(new MemoryWriteChannel()));
    expect(info.status).toBe('completed');
    expect(log.filter((l) => l.startsWith('0000:00:04.0'))).toEqual([
      '0000:00:04.0:p2p', // start
      '0000:00:04.0:precopy-setup',
      '0000:00:04.0:p2p', // stop at switchover
      '0000:00:04.0:precopy-done',
    ]);
    attached.detach();
    expect(registry.list()).toEqual([]);
  });
});
