import { describe, expect, it } from 'vitest';
import { VfioTag, isVfioIdstr, vfioIdstr } from '../src/index.js';

describe('the VFIO section idstr', () => {
  it('is <path>/vfio, or vfio without a path', () => {
    expect(vfioIdstr('0000:00:03.0')).toBe('0000:00:03.0/vfio');
    expect(vfioIdstr('/machine/peripheral/hostdev0')).toBe('/machine/peripheral/hostdev0/vfio');
    expect(vfioIdstr('')).toBe('vfio');
    expect(vfioIdstr(undefined)).toBe('vfio');
  });

  it('is recognised from what the builder makes, and only that', () => {
    for (const path of ['0000:00:03.0', 'mdev-uuid', '', undefined]) expect(isVfioIdstr(vfioIdstr(path))).toBe(true);
    for (const other of ['ram', 'timer', '0000:00:03.0/virtio-net', 'vfio-pci', '0000:00:03.0/vfiox', 'novfio']) expect(isVfioIdstr(other)).toBe(false);
  });
});

describe('VfioTag', () => {
  it('holds QEMU 0xffffffffef10000N values, one per tag', () => {
    expect(VfioTag).toEqual({
      END_OF_STATE: 0xffffffffef100001n,
      DEV_CONFIG_STATE: 0xffffffffef100002n,
      DEV_SETUP_STATE: 0xffffffffef100003n,
      DEV_DATA_STATE: 0xffffffffef100004n,
      DEV_INIT_DATA_SENT: 0xffffffffef100005n,
      DEV_CONFIG_LOAD_READY: 0xffffffffef100006n,
    });
  });
});
