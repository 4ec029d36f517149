import { describe, expect, it } from 'vitest';
import { MigState } from '@savevm/vfio';
import {
  ALL_FLAGS,
  STOP_COPY_ONLY,
  STOP_COPY_P2P,
  STOP_COPY_PRE_COPY,
  loadFromMemory,
  MIXED_P2P,
  makePair,
  migrateOverSocket,
  saveToMemory,
  type DeviceSpec,
} from './helpers/vm.js';
import { bodyShape, vfioSections } from './helpers/stream-layout.js';

const MIB = 1024 * 1024;

describe('QEMU 8.0: STOP_COPY migration through the core driver', () => {
  it('migrates one STOP_COPY-only device: bytes identical, sections START(SETUP END) + END(DATA… END), no PART, no FULL', async () => {
    const { src, dst } = await makePair([{ flags: STOP_COPY_ONLY }], { preCopy: false, stopCopyExit: 'save-complete' });
    const [s] = src.devices;
    const [d] = dst.devices;
    const before = Buffer.from(s!.emulated.model.stateBytes);
    expect(Buffer.compare(before, Buffer.from(d!.emulated.model.stateBytes))).not.toBe(0);
    const { bytes } = await saveToMemory(src);
    expect(s!.emulated.model.migState).toBe(MigState.STOP);
    await loadFromMemory(dst, bytes);
    expect(Buffer.from(d!.emulated.model.stateBytes).equals(before)).toBe(true);
    expect(d!.emulated.model.migState).toBe(MigState.RUNNING);
    const sections = await vfioSections(bytes);
    expect(sections.map((x) => `${x.type}:${bodyShape(x)}`)).toEqual([
      'start:SETUP END',
      `end:DATA(${s!.emulated.model.stopCopyLength()}) END`,
    ]);
    expect(sections[0]!.idstr).toBe('0000:00:03.0/vfio');
    src.close();
    dst.close();
  });
});

describe('migrating 1, 2 and 4 devices with mixed flags', () => {
  const cases: Array<[string, DeviceSpec[]]> = [
    ['1 device, all flags', [{ flags: ALL_FLAGS }]],
    ['2 devices: STOP_COPY and STOP_COPY|PRE_COPY', [{ flags: STOP_COPY_ONLY }, { flags: STOP_COPY_PRE_COPY, preCopyEmptyRead: 'zero' }]],
    [
      '4 devices: every flag combination, 2 MiB + 64 KiB states',
      [
        { flags: STOP_COPY_ONLY, stateSize: 2 * MIB + 100 },
        { flags: STOP_COPY_P2P },
        { flags: STOP_COPY_PRE_COPY, dirtyPagesPerRead: 2 },
        { flags: ALL_FLAGS, stateSize: 2 * MIB, dirtyPagesPerRead: 1, preCopyEmptyRead: 'zero' },
      ],
    ],
  ];
  for (const [name, specs] of cases) {
    it(`${name}: over memory, bytes identical, layout per stream-format.md §5`, async () => {
      const { src, dst } = await makePair(specs, MIXED_P2P);
      const { bytes } = await saveToMemory(src);
      // The final state is what the source device holds after it stopped.
      const expected = src.devices.map((x) => Buffer.from(x.emulated.model.stateBytes));
      await loadFromMemory(dst, bytes);
      dst.devices.forEach((x, i) => expect(Buffer.from(x.emulated.model.stateBytes).equals(expected[i]!)).toBe(true));
      const sections = await vfioSections(bytes);
      for (const [i, dev] of src.devices.entries()) {
        const mine = sections.filter((x) => x.idstr === dev.migration.idstr);
        expect(mine[0]!.type).toBe('start');
        expect(bodyShape(mine[0]!)).toBe('SETUP END');
        const parts = mine.filter((x) => x.type === 'part');
        for (const p of parts) expect(bodyShape(p)).toMatch(/^(DATA\(\d+\) )?END$/);
        if ((specs[i]!.flags & 4) === 0) expect(parts).toHaveLength(0);
        const end = mine.filter((x) => x.type === 'end');
        expect(end).toHaveLength(1);
        expect(bodyShape(end[0]!)).toMatch(/^(DATA\(\d+\) )*END$/);
        for (const item of end[0]!.body) if (item.tag === 'DATA') expect(item.size).toBeLessThanOrEqual(MIB);
        expect(mine.filter((x) => x.type === 'full')).toHaveLength(0);
        // What the device streamed, in order, is exactly what went into the sections.
        const streamed = Buffer.concat(mine.map((x) => x.data));
        expect(streamed.length).toBe(dev.migration.saver.stats.preCopyBytes + dev.migration.saver.stats.stopCopyBytes);
      }
      src.close();
      dst.close();
    });
  }

  it('4 devices over a socket pair with the source and destination running at once', async () => {
    const { src, dst } = await makePair(cases[2]![1], MIXED_P2P);
    const result = await migrateOverSocket(src, dst);
    expect(result.source.status).toBe('completed');
    const expected = src.devices.map((x) => Buffer.from(x.emulated.model.stateBytes));
    dst.devices.forEach((x, i) => expect(Buffer.from(x.emulated.model.stateBytes).equals(expected[i]!)).toBe(true));
    src.close();
    dst.close();
  });
});
