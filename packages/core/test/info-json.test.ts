import { describe, expect, it } from 'vitest';
import { RunState } from '../src/index.js';
import { BlobDevice } from './helpers/devices.js';
import { FakeClock } from './helpers/fake-clock.js';
import { World, saveToMemory } from './helpers/world.js';

describe('MigrationInfo as JSON', () => {
  it('holds the info fields and per-entry bytes, never the registered handlers (a device state can be large)', async () => {
    const src = new World(RunState.PAUSED, new FakeClock());
    const state = Buffer.alloc(4096, 7);
    src.registry.register('blob', 0, 1, new BlobDevice(state));
    const { info } = await saveToMemory(src);
    const json = JSON.parse(JSON.stringify(info)) as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(
      [
        'status',
        'totalTimeMs',
        'setupTimeMs',
        'downtimeMs',
        'expectedDowntimeMs',
        'transferredBytes',
        'remainingBytes',
        'throughputMbps',
        'iterations',
        'thresholdBytes',
        'iterationCapReached',
        'errorDescription',
        'warnings',
        'entries',
        'streamCompat',
      ]
        .filter((k) => json[k] !== undefined)
        .sort(),
    );
    expect(json.streamCompat).toBe('qemu-7.2');
    expect(json.entries).toEqual([{ idstr: 'blob', instanceId: 0, bytes: info.entries[0]?.bytes }]);
    expect(JSON.stringify(info).length).toBeLessThan(2000);
  });
});
