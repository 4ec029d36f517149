import { INSTANCE_ID_ANY } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { RunState } from '../src/index.js';
import { BlobDevice, RamLikeDevice } from './helpers/devices.js';
import { World, readerOf, saveToMemory } from './helpers/world.js';

describe('a destination whose devices were registered in another order than the source', () => {
  it('finds each section by idstr and instance, and each PART and END by section id', async () => {
    const src = new World(RunState.RUNNING);
    const names = ['a', 'b', 'c', 'd'];
    const blobs = names.map((n) => new BlobDevice(Buffer.from(`state of ${n}`)));
    const live = [0, 1].map((i) => new RamLikeDevice({ pages: 6, pageSize: 64, seed: 1 + i }));
    live.forEach((d) => src.registry.register('ram', INSTANCE_ID_ANY, 1, d));
    names.forEach((n, i) => src.registry.register(n, 0, 1, blobs[i]!));
    const { bytes } = await saveToMemory(src);

    const dst = new World(RunState.INMIGRATE);
    const order = [3, 1, 0, 2];
    const loaded = names.map(() => new BlobDevice(Buffer.alloc(0)));
    for (const i of order) dst.registry.register(names[i]!, 0, 1, loaded[i]!);
    const targets = [1, 0].map((i) => ({ i, device: new RamLikeDevice({ pages: 6, pageSize: 64, seed: 50 + i }) }));
    // Instance 1 first: the live sections' ids are the other way round from the local list.
    dst.registry.register('ram', 1, 1, targets[0]!.device);
    dst.registry.register('ram', 0, 1, targets[1]!.device);
    expect((await dst.destination.load(readerOf(bytes), { machine: 'none' })).status).toBe('completed');
    names.forEach((n, i) => expect(loaded[i]!.loaded?.toString()).toBe(`state of ${n}`));
    for (const { i, device } of targets) expect(device.received?.equals(live[i]!.memory)).toBe(true);
  });
});
