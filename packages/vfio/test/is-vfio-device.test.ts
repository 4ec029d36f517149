import { describe, expect, it } from 'vitest';
import { FdVfioDevice, NOT_A_VFIO_DEVICE, isVfioDevice, type VfioDevice } from '../src/index.js';
import { EmulatedVfioKernel, createEmulatedDevice } from '../src/emulated/index.js';

/** The methods of a device, copied onto a plain object (so one can be left out). */
function methodsOf(device: VfioDevice): Record<string, unknown> {
  const out: Record<string, unknown> = { name: device.name, closed: device.closed };
  for (let proto: object | null = Object.getPrototypeOf(device); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const value: unknown = (device as unknown as Record<string, unknown>)[key];
      if (key !== 'constructor' && typeof value === 'function' && !(key in out)) out[key] = value.bind(device);
    }
  }
  return out;
}

describe('isVfioDevice', () => {
  const kernel = new EmulatedVfioKernel();
  const devices = (['v2', 'v1', 'none'] as const).map((protocol, i) =>
    createEmulatedDevice({ name: `0000:00:0${i + 3}.0`, protocol, seed: i }, { kernel }).device,
  );

  it('accepts an open device of every protocol, and a closed one', () => {
    for (const device of devices) {
      expect(device).toBeInstanceOf(FdVfioDevice);
      expect(isVfioDevice(device)).toBe(true);
    }
    const closed = createEmulatedDevice({ name: '0000:00:07.0', protocol: 'v2', seed: 9 }).device;
    closed.close();
    expect(isVfioDevice(closed)).toBe(true);
  });

  it('accepts a plain object with every member, so wrappers and stand-ins pass', () => {
    expect(isVfioDevice(methodsOf(devices[0]!))).toBe(true);
  });

  it('refuses undefined, null, numbers, strings, symbols, functions and plain objects', () => {
    for (const x of [undefined, null, 0, 42, Number.NaN, 7n, '0000:00:03.0', Symbol('device'), true, () => undefined, {}, [], { name: 'x' }]) {
      expect(isVfioDevice(x)).toBe(false);
    }
  });

  it('refuses an object missing any one method, or whose method is not a function', () => {
    const whole = methodsOf(devices[0]!);
    const methods = Object.keys(whole).filter((k) => typeof whole[k] === 'function');
    expect(methods).toEqual(expect.arrayContaining(['getMigrationFlags', 'findRegionByType', 'setState', 'close']));
    for (const method of methods) {
      const { [method]: _left, ...partial } = whole;
      expect(isVfioDevice(partial), `without ${method}`).toBe(false);
      expect(isVfioDevice({ ...whole, [method]: 1 }), `${method} not a function`).toBe(false);
    }
  });

  it('refuses an object whose name is not a string or cannot be read', () => {
    const whole = methodsOf(devices[0]!);
    expect(isVfioDevice({ ...whole, name: 3 })).toBe(false);
    const { name: _name, ...nameless } = whole;
    expect(isVfioDevice(nameless)).toBe(false);
    const throwing = Object.defineProperty({ ...nameless }, 'name', {
      get: () => {
        throw new Error('gone');
      },
    });
    expect(isVfioDevice(throwing)).toBe(false);
  });

  it('accepts a Proxy over a device (whose closed getter cannot be read through it)', () => {
    const proxy = new Proxy(devices[0]!, { get: (t, p, r) => Reflect.get(t, p, r) as unknown });
    expect(() => proxy.closed).toThrow(TypeError);
    expect(isVfioDevice(proxy)).toBe(true);
  });

  it('gives providers one reason to quote', () => {
    expect(NOT_A_VFIO_DEVICE).toBe('not a VFIO device');
  });
});
