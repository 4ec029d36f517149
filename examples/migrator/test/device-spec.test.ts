import { describe, expect, it } from 'vitest';
import { VfioMigrationFlags } from '@savevm/vfio';
import { parseDeviceSpec, parseDeviceSpecs } from '../src/devices/device-spec.js';
import { parseBytes, parseDurationMs } from '../src/args/units.js';

describe('--device specs', () => {
  it('reads an emulated device with every option', () => {
    expect(parseDeviceSpec('emulated:nic0,size=2M,flags=stop-copy|p2p|pre-copy,dirty-rate=1M/s,dma-rate=2M,seed=7')).toEqual({
      kind: 'emulated',
      name: 'nic0',
      size: 2 * 1024 * 1024,
      migrationFlags: VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P | VfioMigrationFlags.PRE_COPY,
      dirtyRate: 1024 * 1024,
      dmaRate: 2 * 1024 * 1024,
      seed: 7,
      text: 'emulated:nic0,size=2M,flags=stop-copy|p2p|pre-copy,dirty-rate=1M/s,dma-rate=2M,seed=7',
    });
  });

  it('defaults: 1 MiB, stop-copy|p2p, no dirtying, seed 1; stop-copy is always there', () => {
    expect(parseDeviceSpec('emulated:a')).toMatchObject({ size: 1 << 20, migrationFlags: VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P, dirtyRate: 0, seed: 1 });
    expect(parseDeviceSpec('emulated:a,flags=pre-copy')).toMatchObject({ migrationFlags: VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.PRE_COPY });
  });

  it('reads vfio devices', () => {
    expect(parseDeviceSpec('vfio:/sys/bus/pci/devices/0000:01:00.0')).toMatchObject({ kind: 'vfio', target: '/sys/bus/pci/devices/0000:01:00.0' });
  });

  it.each([
    ['emulated:', /the name must be/],
    ['emulated:a,size=big', /size: "big" is not a size/],
    ['emulated:a,flags=fast', /unknown flag "fast"/],
    ['emulated:a,colour=red', /unknown option "colour"/],
    ['emulated:a,seed=99999999999', /seed must fit in 32 bits/],
    ['pci:0000:01:00.0', /unknown device kind "pci"/],
    ['vfio:', /expected vfio:SYSFS_PATH/],
  ])('refuses %s', (spec, message) => {
    expect(() => parseDeviceSpec(spec)).toThrow(message);
  });

  it('refuses the same device twice', () => {
    expect(() => parseDeviceSpecs(['emulated:a', 'emulated:a,seed=2'])).toThrow(/given twice/);
  });

  it('units', () => {
    expect(parseBytes('64KiB', 'x')).toBe(65536);
    expect(parseBytes('1MB', 'x')).toBe(1_000_000);
    expect(parseDurationMs('2', 'x', 's')).toBe(2000);
    expect(parseDurationMs('250', 'x', 'ms')).toBe(250);
    expect(parseDurationMs('1.5s', 'x', 'ms')).toBe(1500);
    expect(() => parseDurationMs('soon', 'x', 's')).toThrow(/not a duration/);
  });
});
