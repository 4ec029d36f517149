import 'reflect-metadata';
import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import {
  DEVICE_EVENTS,
  DEVICE_MIGRATION_ATTACHER,
  HANDLER_PROVIDER,
  MIGRATION_BLOCKERS,
  MIGRATION_NOTIFIERS,
  RUN_STATE_CONTROLLER,
  SAVE_STATE_REGISTRY,
  coreContainerModule,
  type DeviceAttachContext,
  type DeviceEvent,
  type DeviceEvents,
  type DeviceMigrationAttacher,
  type DeviceMigrationSpec,
  type Disposable,
  type HandlerProvider,
  type MigrationBlockers,
  type MigrationNotifiers,
  type RunStateController,
  type SaveStateRegistry,
} from '../src/index.js';

/** A provider for any device whose spec carries `attached`, logging what the VM's services see. */
function containerWith(attached: (context: DeviceAttachContext) => Disposable, log: string[]): Container {
  const provider: HandlerProvider = {
    name: 'hooked',
    priority: 1,
    probe: () => ({ accepted: true, reason: 'yes' }),
    create: (device): DeviceMigrationSpec => ({
      idstr: `${String(device)}/hooked`,
      versionId: 1,
      handlers: {},
      runStateHandler: { change: (running) => void log.push(`change ${running}`) },
      migrationNotifier: (event) => void log.push(`notifier ${event.type}`),
      attached,
    }),
  };
  const c = new Container();
  c.load(coreContainerModule);
  c.bind<HandlerProvider>(HANDLER_PROVIDER).toConstantValue(provider);
  return c;
}

describe("the spec's attached hook", () => {
  it('gets the name and the VM blockers once registered; detach disposes it once', async () => {
    const log: string[] = [];
    let seen: DeviceAttachContext | undefined;
    const c = containerWith((context) => {
      seen = context;
      const registered = c.get<SaveStateRegistry>(SAVE_STATE_REGISTRY).list().map((e) => e.idstr);
      log.push(`attached ${context.name} with ${registered.join(',')}`);
      const blocker = context.blockers.add('held by the hook', context.name);
      return { dispose: () => (blocker.dispose(), log.push('disposed')) };
    }, log);
    const blockers = c.get<MigrationBlockers>(MIGRATION_BLOCKERS);
    const attached = await c.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach('dev0', 'the device');
    expect(seen?.name).toBe('the device');
    expect(seen?.blockers).toBe(blockers);
    expect(seen?.events).toBe(c.get<DeviceEvents>(DEVICE_EVENTS));
    expect(log).toEqual(['attached the device with dev0/hooked']);
    expect(blockers.list()).toEqual([{ reason: 'held by the hook', owner: 'the device' }]);
    attached.detach();
    attached.detach();
    expect(log).toEqual(['attached the device with dev0/hooked', 'disposed']);
    expect(blockers.list()).toEqual([]);
  });

  it('the device events reach every subscriber in order, from the moment it subscribed (no replay)', async () => {
    const c = containerWith((context) => {
      context.events.emit({ event: 'HELLO', device: context.name, data: { n: 1 } });
      return { dispose: () => context.events.emit({ event: 'BYE', device: context.name, data: {} }) };
    }, []);
    const events = c.get<DeviceEvents>(DEVICE_EVENTS);
    const early: DeviceEvent[] = [];
    events.events$.subscribe((e) => early.push(e));
    const attached = await c.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach('dev0', 'pad0');
    const late: DeviceEvent[] = [];
    events.events$.subscribe((e) => late.push(e));
    attached.detach();
    expect(early).toEqual([
      { event: 'HELLO', device: 'pad0', data: { n: 1 } },
      { event: 'BYE', device: 'pad0', data: {} },
    ]);
    expect(late).toEqual([{ event: 'BYE', device: 'pad0', data: {} }]);
  });

  it('a throw fails the attach and undoes every registration', async () => {
    const log: string[] = [];
    const c = containerWith(() => {
      throw new Error('the rule refuses dev0');
    }, log);
    await expect(c.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach('dev0')).rejects.toThrow('the rule refuses dev0');
    expect(c.get<SaveStateRegistry>(SAVE_STATE_REGISTRY).list()).toEqual([]);
    await c.get<RunStateController>(RUN_STATE_CONTROLLER).start();
    await c.get<MigrationNotifiers>(MIGRATION_NOTIFIERS).notify({ type: 'precopy-failed' });
    expect(log).toEqual([]);
  });
});
