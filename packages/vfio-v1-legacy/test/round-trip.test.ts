import { describe, expect, it } from 'vitest';
import { MigrationError, RunState, type HandlerProvider } from '@savevm/core';
import { MULTI_DEVICE_BLOCKER_REASON, V1State } from '@savevm/vfio';
import { EmulatedVfioKernel } from '@savevm/vfio/emulated';
import { VfioV1Provider } from '../src/index.js';
import { LIVE, World, loadFromMemory, saveToMemory, snapshot, v1Device } from './helpers/world.js';

describe('v1 save/load round trips on the emulated v1 device', () => {
  it('one device: destination bytes equal the source bytes, both devices RUNNING', async () => {
    const src = new World();
    const dst = new World(RunState.INMIGRATE);
    const from = v1Device({ name: '0000:00:03.0', seed: 7, dirtyPagesPerRead: 2 });
    const to = v1Device({ name: '0000:00:03.0', seed: 99 });
    const attached = await src.attacher.attach(from.device, from.device.name);
    expect(attached.provider.name).toBe('vfio-v1');
    expect(attached.entry.idstr).toBe('0000:00:03.0/vfio');
    expect(attached.entry.versionId).toBe(1);
    await dst.attacher.attach(to.device, to.device.name);
    expect(Buffer.compare(from.model.stateBytes, to.model.stateBytes)).not.toBe(0);

    const { bytes, info } = await saveToMemory(src, LIVE);
    expect(info.status).toBe('completed');
    expect(info.iterations).toBeGreaterThan(0);
    expect(from.model.v1State).toBe(V1State.STOP); // stopped, its state sent
    const sent = snapshot(from.model.stateBytes);

    const loaded = await loadFromMemory(dst, bytes);
    expect(loaded.status).toBe('completed');
    expect(to.model.v1State).toBe(V1State.RUNNING);
    expect(snapshot(to.model.stateBytes)).toEqual(sent);
  });

  it('several devices in one kernel, different seeds, data sections smaller on the destination (chunks split)', async () => {
    // v1 has no P2P state: the devices are vouched for (QEMU 8.2's multi-device rule, docs/embedding-in-a-vmm.md §3).
    const src = new World(RunState.RUNNING, [new VfioV1Provider({ allowMultiDeviceWithoutP2P: true }) as HandlerProvider]);
    const dst = new World(RunState.INMIGRATE);
    const srcKernel = new EmulatedVfioKernel();
    const dstKernel = new EmulatedVfioKernel();
    const names = ['0000:00:03.0', '0000:00:04.0', '0000:00:05.0'];
    const sources = names.map((name, i) => v1Device({ name, seed: 10 + i, stateSize: (i + 1) * 32 * 1024, v1DataSectionSize: 32 * 1024, dirtyPagesPerRead: i }, srcKernel));
    const targets = names.map((name, i) => v1Device({ name, seed: 50 + i, stateSize: (i + 1) * 32 * 1024, v1DataSectionSize: 8 * 1024 }, dstKernel));
    for (const s of sources) await src.attacher.attach(s.device, s.device.name);
    for (const t of targets) await dst.attacher.attach(t.device, t.device.name);

    const { bytes } = await saveToMemory(src, LIVE);
    await loadFromMemory(dst, bytes);
    for (let i = 0; i < names.length; i++) {
      expect(snapshot((targets[i] as (typeof targets)[number]).model.stateBytes)).toEqual(snapshot((sources[i] as (typeof sources)[number]).model.stateBytes));
      expect((targets[i] as (typeof targets)[number]).model.v1State).toBe(V1State.RUNNING);
    }
  });

  it('several devices without the escape: migrate is refused naming each (v1 has no P2P state); one left migrates', async () => {
    const src = new World();
    const kernel = new EmulatedVfioKernel();
    const devices = ['a', 'b'].map((name, i) => v1Device({ name, seed: 20 + i }, kernel));
    const attached = [];
    for (const d of devices) attached.push(await src.attacher.attach(d.device, d.device.name));
    const refused = await saveToMemory(src, LIVE).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MigrationError);
    expect((refused as MigrationError).reason).toBe('BLOCKED');
    expect((refused as MigrationError).message).toContain(`vfio: ${MULTI_DEVICE_BLOCKER_REASON} (without P2P: a, b)`);
    for (const d of devices) expect(d.model.v1State).toBe(V1State.RUNNING);
    attached[1]!.detach();
    expect(src.blockers.list()).toEqual([]);
    expect((await saveToMemory(src, LIVE)).info.status).toBe('completed');
  });

  it('a paused VM: save goes straight to stop-and-copy and the device is STOP afterwards', async () => {
    const src = new World();
    const dst = new World(RunState.INMIGRATE);
    const from = v1Device({ name: 'dev' });
    const to = v1Device({ name: 'dev', seed: 3 });
    await src.attacher.attach(from.device, 'dev');
    await dst.attacher.attach(to.device, 'dev');
    await src.runState.stop(RunState.PAUSED);
    expect(from.model.v1State).toBe(V1State.STOP);
    const { bytes } = await saveToMemory(src, LIVE);
    expect(from.model.arcLog).toContainEqual([V1State.STOP, V1State.SAVING]);
    await loadFromMemory(dst, bytes);
    expect(snapshot(to.model.stateBytes)).toEqual(snapshot(from.model.stateBytes));
  });

  it('the VM started again on the source after a completed migration sets RUNNING', async () => {
    const src = new World();
    const from = v1Device({ name: 'dev' });
    await src.attacher.attach(from.device, 'dev');
    await saveToMemory(src, LIVE);
    await src.runState.start();
    expect(from.model.v1State).toBe(V1State.RUNNING);
  });
});
