import { describe, expect, it } from 'vitest';
import { VfioMigrationFlags, type VfioDevice } from '@savevm/vfio';
import { createEmulatedDevice } from '@savevm/vfio/emulated';
import { VfioV2Provider } from '../src/index.js';

/** A device with one member hidden. */
function without(device: VfioDevice, member: string): VfioDevice {
  return new Proxy(device, { get: (t, p, r) => (p === member ? undefined : (Reflect.get(t, p, r) as unknown)) });
}

/** Things a probe chain may hand the v2 provider that are not VFIO devices. */
function notDevices(): [string, unknown][] {
  const device = createEmulatedDevice({ protocol: 'v2' }).device;
  return [
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a string', '0000:00:03.0'],
    ['a plain object', {}],
    ['an object with a name only', { name: 'gpu0' }],
    // Answered STOP_COPY before, so v2 accepted it and failed later in create.
    ['an object with getMigrationFlags only', { name: 'gpu0', getMigrationFlags: () => VfioMigrationFlags.STOP_COPY }],
    ['a device without getMigrationFlags', without(device, 'getMigrationFlags')],
    ['a device without setState', without(device, 'setState')],
    ['another kind of device', new (class Scratch {
      readonly id = 'pad0';
    })()],
  ];
}

describe('the v2 provider and what is not a VFIO device', () => {
  it('refuses each with "not a VFIO device", without throwing', () => {
    const provider = new VfioV2Provider();
    for (const [what, x] of notDevices()) {
      let verdict: unknown;
      expect(() => (verdict = provider.probe(x)), what).not.toThrow();
      expect(verdict, what).toEqual({ accepted: false, reason: 'not a VFIO device' });
    }
  });

  it('still accepts a VFIO device wrapped in a Proxy', () => {
    const device = createEmulatedDevice({ protocol: 'v2' }).device;
    const proxy = new Proxy(device, {
      get: (t, p) => {
        const value = Reflect.get(t, p, t) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value;
      },
    });
    expect(new VfioV2Provider().probe(proxy).accepted).toBe(true);
  });
});
