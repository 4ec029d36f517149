import { describe, expect, it } from 'vitest';
import { Container } from 'inversify';
import {
  DEVICE_MIGRATION_ATTACHER,
  MIGRATION_BLOCKERS,
  MIGRATION_DESTINATION,
  MIGRATION_SOURCE,
  MigrationError,
  NoHandlerProviderError,
  PROVIDER_SELECTOR,
  RUN_STATE_CONTROLLER,
  RunState,
  coreContainerModule,
  type AttachedDevice,
  type BlockedDevice,
  type DeviceMigrationAttacher,
  type MigrationBlockers,
  type MigrationDestination,
  type MigrationSource,
  type ProviderSelector,
  type RunStateController,
} from '@savevm/core';
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { MULTI_DEVICE_BLOCKER_REASON, MigState, V1State, type VfioDevice } from '@savevm/vfio';
import { EmulatedVfioKernel, createEmulatedDevice } from '@savevm/vfio/emulated';
import { Scratchpad, scratchpadContainerModule } from '@savevm/custom-device';
import { vfioV1ContainerModule } from '@savevm/vfio-v1-legacy';
import { vfioV2ContainerModule } from '@savevm/vfio-v2';
import { vfioProvidersModule } from './probe-chain.js';

async function containerWith(...modules: Parameters<Container['load']>): Promise<Container> {
  const c = new Container();
  await c.load(coreContainerModule, ...modules);
  return c;
}

/** Three emulated devices in one kernel: v2-capable, v1-only, not migratable. */
function threeDevices(seed: number) {
  const kernel = new EmulatedVfioKernel();
  const v2 = createEmulatedDevice({ name: '0000:00:03.0', protocol: 'v2', seed, stateSize: 64 * 1024 }, { kernel });
  const v1 = createEmulatedDevice({ name: '0000:00:04.0', protocol: 'v1', seed: seed + 1, stateSize: 64 * 1024, v1DataSectionSize: 16 * 1024 }, { kernel });
  const none = createEmulatedDevice({ name: '0000:00:05.0', protocol: 'none', seed: seed + 2 }, { kernel });
  return { kernel, v2, v1, none };
}

function isBlocked(result: AttachedDevice | BlockedDevice): result is BlockedDevice {
  return 'blocker' in result;
}

/** v1 devices vouched for as taking no part in P2P DMA (docs/embedding-in-a-vmm.md §3). */
const VOUCHED_V1 = { v1: { allowMultiDeviceWithoutP2P: true } } as const;

const ENOTTY_REASON = 'VFIO_DEVICE_FEATURE GET MIGRATION: ENOTTY (no VFIO migration v2 in this kernel or driver)';

describe('the VFIO probe chain: v2, then v1, then a blocker', () => {
  it('asks v2 before v1 whatever order the modules are loaded in', async () => {
    for (const modules of [[vfioProvidersModule()], [vfioV1ContainerModule(), vfioV2ContainerModule()], [vfioV2ContainerModule(), vfioV1ContainerModule()]]) {
      const c = await containerWith(...modules);
      expect(c.get<ProviderSelector>(PROVIDER_SELECTOR).providers.map((p) => [p.name, p.priority])).toEqual([
        ['vfio-v2', 200],
        ['vfio-v1', 100],
      ]);
    }
  });

  it('three emulated devices: v2-capable picks v2, v1-only picks v1, none gets the aggregated reason and a blocker', async () => {
    // The v1 device has no P2P state: vouched for, so that the only blocker is the third device's.
    const c = await containerWith(vfioProvidersModule(VOUCHED_V1));
    const attacher = c.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER);
    const { v2, v1, none } = threeDevices(1);

    const onV2 = await attacher.attachOrBlock<VfioDevice>(v2.device, v2.device.name);
    expect(isBlocked(onV2)).toBe(false);
    expect((onV2 as AttachedDevice).provider.name).toBe('vfio-v2');
    expect((onV2 as AttachedDevice).verdicts.map((v) => v.provider)).toEqual(['vfio-v2']);
    expect((onV2 as AttachedDevice).entry.idstr).toBe('0000:00:03.0/vfio');

    const onV1 = (await attacher.attachOrBlock<VfioDevice>(v1.device, v1.device.name)) as AttachedDevice;
    expect(onV1.provider.name).toBe('vfio-v1');
    expect(onV1.verdicts).toEqual([
      { provider: 'vfio-v2', verdict: { accepted: false, reason: ENOTTY_REASON } },
      { provider: 'vfio-v1', verdict: { accepted: true, reason: expect.stringMatching(/^v1 migration region 9 \(\d+ bytes\)$/) } },
    ]);
    expect(onV1.entry.idstr).toBe('0000:00:04.0/vfio');
    expect(onV1.entry.versionId).toBe(1);

    const onNone = await attacher.attachOrBlock<VfioDevice>(none.device, none.device.name);
    expect(isBlocked(onNone)).toBe(true);
    const { error, blocker } = onNone as BlockedDevice;
    expect(error).toBeInstanceOf(NoHandlerProviderError);
    expect(error.message).toBe(`no handler provider accepts 0000:00:05.0: vfio-v2: ${ENOTTY_REASON}; vfio-v1: no v1 migration region`);
    expect(c.get<MigrationBlockers>(MIGRATION_BLOCKERS).list()).toEqual([{ reason: error.message, owner: '0000:00:05.0' }]);

    // The blocker stops migrate before setup; nothing was touched on the devices.
    const source = c.get<MigrationSource>(MIGRATION_SOURCE);
    const refused = await source.migrate(new QemuFileWriter(new MemoryWriteChannel())).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MigrationError);
    expect((refused as MigrationError).phase).toBe('blocked');
    expect((refused as MigrationError).message).toContain('0000:00:05.0: no handler provider accepts 0000:00:05.0');
    expect(v2.model.arcLog).toEqual([]);
    expect(v1.model.arcLog).toEqual([]);
    blocker.dispose();
  });

  it('attach (not attachOrBlock) throws the same aggregated error', async () => {
    const c = await containerWith(vfioProvidersModule());
    const { none } = threeDevices(1);
    await expect(c.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach(none.device, none.device.name)).rejects.toThrow(
      /vfio-v2: VFIO_DEVICE_FEATURE GET MIGRATION: ENOTTY.*; vfio-v1: no v1 migration region$/,
    );
  });

  it('a v2 device and a v1 device migrate together through the chain when the v1 device is vouched for; the blocked device is left out', async () => {
    const src = await containerWith(vfioProvidersModule(VOUCHED_V1));
    const dst = await containerWith(vfioProvidersModule(VOUCHED_V1));
    const from = threeDevices(1);
    const to = threeDevices(100);
    for (const [c, devices] of [[src, from], [dst, to]] as const) {
      const attacher = c.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER);
      await attacher.attach(devices.v2.device, devices.v2.device.name);
      await attacher.attach(devices.v1.device, devices.v1.device.name);
    }
    const runState = src.get<RunStateController>(RUN_STATE_CONTROLLER);
    await runState.start();

    const channel = new MemoryWriteChannel();
    const info = await src.get<MigrationSource>(MIGRATION_SOURCE).migrate(new QemuFileWriter(channel), { maxBandwidth: 0, downtimeLimitMs: 0, maxIterations: 100 });
    expect(info.status).toBe('completed');
    dst.get<RunStateController>(RUN_STATE_CONTROLLER).setState(RunState.INMIGRATE);
    const loaded = await dst
      .get<MigrationDestination>(MIGRATION_DESTINATION)
      .load(new QemuFileReader(new MemoryReadChannel(channel.bytes())), { autostart: true });
    expect(loaded.status).toBe('completed');

    expect(Buffer.from(to.v2.model.stateBytes)).toEqual(Buffer.from(from.v2.model.stateBytes));
    expect(Buffer.from(to.v1.model.stateBytes)).toEqual(Buffer.from(from.v1.model.stateBytes));
    expect(to.v2.model.migState).toBe(MigState.RUNNING);
    expect(to.v1.model.v1State).toBe(V1State.RUNNING);
    expect(Buffer.from(to.none.model.stateBytes)).not.toEqual(Buffer.from(from.none.model.stateBytes));
  });
});

describe("QEMU 8.2's multi-device rule across the chain: a v1 device has no P2P state", () => {
  it('a v2 device with P2P and a v1 device: migrate is refused naming the v1 device; detaching it lifts the blocker', async () => {
    const c = await containerWith(vfioProvidersModule());
    const attacher = c.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER);
    const { v2, v1 } = threeDevices(1);
    await attacher.attach(v2.device, 'gpu0');
    const onV1 = await attacher.attach(v1.device, 'legacy0');
    await c.get<RunStateController>(RUN_STATE_CONTROLLER).start();
    const arcs = [[...v2.model.arcLog], [...v1.model.arcLog]];
    const refused = await c
      .get<MigrationSource>(MIGRATION_SOURCE)
      .migrate(new QemuFileWriter(new MemoryWriteChannel()))
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MigrationError);
    expect((refused as MigrationError).reason).toBe('BLOCKED');
    expect((refused as MigrationError).message).toContain(`vfio: ${MULTI_DEVICE_BLOCKER_REASON} (without P2P: legacy0)`);
    // Refused before setup: no device moved.
    expect([v2.model.arcLog, v1.model.arcLog]).toEqual(arcs);
    onV1.detach();
    expect(c.get<MigrationBlockers>(MIGRATION_BLOCKERS).list()).toEqual([]);
  });
});

describe('the VFIO probe chain and objects that are not VFIO devices', () => {
  const NOT_VFIO = 'vfio-v2: not a VFIO device; vfio-v1: not a VFIO device';

  /** A device with one member hidden. */
  function without(device: VfioDevice, member: string): VfioDevice {
    return new Proxy(device, { get: (t, p, r) => (p === member ? undefined : (Reflect.get(t, p, r) as unknown)) });
  }

  /** What a VMM may attach that the VFIO providers do not understand, with its default description. */
  function notDevices(): [string, unknown][] {
    const { v2, v1 } = threeDevices(1);
    return [
      ['undefined', undefined],
      ['null', null],
      ['42', 42],
      ['[object Object]', {}],
      ['[object Object]', { name: 'gpu0', getMigrationFlags: () => 1, findRegionByType: () => undefined }],
      ['[object Object]', without(v2.device, 'getMigrationFlags')],
      ['[object Object]', without(v1.device, 'findRegionByType')],
      ['scratchpad pad0', new Scratchpad({ id: 'pad0' })],
    ];
  }

  it('each is refused by both providers with "not a VFIO device", and the error lists both', async () => {
    const c = await containerWith(vfioProvidersModule());
    const selector = c.get<ProviderSelector>(PROVIDER_SELECTOR);
    for (const [described, x] of notDevices()) {
      const error = await selector.select(x).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NoHandlerProviderError);
      expect((error as NoHandlerProviderError).verdicts).toEqual([
        { provider: 'vfio-v2', verdict: { accepted: false, reason: 'not a VFIO device' } },
        { provider: 'vfio-v1', verdict: { accepted: false, reason: 'not a VFIO device' } },
      ]);
      expect((error as Error).message).toBe(`no handler provider accepts ${described}: ${NOT_VFIO}`);
    }
  });

  it('attachOrBlock turns each into a blocker with both reasons, and attach throws the same error', async () => {
    const c = await containerWith(vfioProvidersModule());
    const attacher = c.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER);
    for (const [, x] of notDevices()) {
      const result = await attacher.attachOrBlock(x, 'thing');
      expect(isBlocked(result)).toBe(true);
      expect((result as BlockedDevice).error.message).toBe(`no handler provider accepts thing: ${NOT_VFIO}`);
      (result as BlockedDevice).blocker.dispose();
      await expect(attacher.attach(x, 'thing')).rejects.toThrow(`no handler provider accepts thing: ${NOT_VFIO}`);
    }
  });

  it('the custom-device example passes the VFIO providers by and is attached by its own', async () => {
    const c = await containerWith(vfioProvidersModule(), scratchpadContainerModule);
    const attached = await c.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER).attach(new Scratchpad({ id: 'pad0' }), 'pad0');
    expect(attached.provider.name).toBe('scratchpad');
    expect(attached.verdicts.map((v) => [v.provider, v.verdict.accepted, v.verdict.reason])).toEqual([
      ['vfio-v2', false, 'not a VFIO device'],
      ['vfio-v1', false, 'not a VFIO device'],
      ['scratchpad', true, expect.stringContaining('is a scratchpad')],
    ]);
    expect(attached.entry.idstr).toBe('pad0/scratchpad');
  });
});
