import { describe, expect, it } from 'vitest';
import { inspectStream } from '../src/index.js';
import { parseSectionsTxt } from './fixtures/sections-txt.js';
import { ALL_VECTORS, vectorBytes, vectorListing } from './fixtures/vectors.js';

describe('QEMU 7.2 and 10.0 vectors parse to exactly their .sections.txt records', () => {
  for (const [version, name] of ALL_VECTORS) {
    it(`${version}/${name}`, async () => {
      const bytes = vectorBytes(name, version);
      const listed = parseSectionsTxt(vectorListing(name, version));
      const { records, warnings } = await inspectStream(bytes);
      expect(warnings).toEqual([]);

      // Rebuild the listing from our records, footers included at body end.
      const ours: typeof listed = [];
      for (const item of records) {
        const r = item.record;
        switch (r.type) {
          case 'header':
            ours.push({ offset: r.offset, type: 'header' });
            break;
          case 'configuration':
            ours.push({ offset: r.offset, type: 'configuration', machine: r.machine });
            break;
          case 'start':
          case 'full':
            ours.push({ offset: r.offset, type: r.type, sectionId: r.sectionId, idstr: r.idstr, instanceId: r.instanceId, versionId: r.versionId, bodySize: item.bodySize as number });
            ours.push({ offset: r.bodyOffset + (item.bodySize as number), type: 'footer', sectionId: r.sectionId });
            break;
          case 'part':
          case 'end':
            ours.push({ offset: r.offset, type: r.type, sectionId: r.sectionId, bodySize: item.bodySize as number });
            ours.push({ offset: r.bodyOffset + (item.bodySize as number), type: 'footer', sectionId: r.sectionId });
            break;
          case 'eof':
            ours.push({ offset: r.offset, type: 'eof' });
            break;
          case 'vmdesc':
            ours.push({ offset: r.offset, type: 'vmdesc', bodySize: item.bodySize as number });
            break;
          case 'command':
            ours.push({ offset: r.offset, type: 'command', command: r.command, bodySize: item.bodySize as number });
            break;
        }
      }
      expect(ours).toEqual(listed);
      expect(listed.length).toBeGreaterThan(10);
      // 10.0 sends SWITCHOVER_START right before the first END section; 7.2 sends no command.
      const commands = listed.filter((r) => r.type === 'command');
      if (version === '7.2') expect(commands).toEqual([]);
      else {
        expect(commands.map((c) => [c.command, c.bodySize])).toEqual([[11, 0]]);
        expect(listed[listed.indexOf(commands[0] as (typeof listed)[number]) + 1]?.type).toBe('end');
      }
    });
  }

  it('decodes every FULL section field by field from the vmdesc', async () => {
    const { records } = await inspectStream(vectorBytes('pc-running'));
    const full = records.filter((r) => r.record.type === 'full');
    expect(full).toHaveLength(30);
    for (const item of full) expect(item.decoding).toBe('vmdesc');
    const globalstate = full.find((r) => r.record.type === 'full' && r.record.idstr === 'globalstate');
    const runstate = globalstate?.fields?.fields.find((f) => f.name === 'runstate');
    expect(Buffer.from(runstate?.value as string, 'hex').toString('latin1').replace(/\0+$/, '')).toBe('running');
    const ram = records.find((r) => r.record.type === 'start');
    expect(ram?.ram?.blocks.map((b) => [b.idstr, b.usedLength])).toEqual([
      ['pc.ram', 0x1000000n],
      ['/rom@etc/acpi/tables', 0x20000n],
      ['pc.bios', 0x40000n],
      ['pc.rom', 0x20000n],
      ['/rom@etc/table-loader', 0x1000n],
      ['/rom@etc/acpi/rsdp', 0x1000n],
    ]);
  });

  it('10.0: decodes every FULL section from the vmdesc, globalstate in its 10.0 layout, and keeps the vmdesc\'s configuration', async () => {
    for (const name of ['pc-running', 'q35-running']) {
      const { records, vmdesc } = await inspectStream(vectorBytes(name, '10.0'));
      const full = records.filter((r) => r.record.type === 'full');
      expect(full.length).toBeGreaterThan(25);
      for (const item of full) expect(item.decoding).toBe('vmdesc');
      const globalstate = full.find((r) => r.record.type === 'full' && r.record.idstr === 'globalstate');
      expect(globalstate?.fields?.fields.map((f) => [f.name, f.size])).toEqual([
        ['size', 4],
        ['runstate', 32],
        ['has_vm_was_suspended', 1],
        ['vm_was_suspended', 1],
        ['unused', 66],
      ]);
      const value = (field: string): unknown => globalstate?.fields?.fields.find((f) => f.name === field)?.value;
      expect(Buffer.from(value('runstate') as string, 'hex').toString('latin1').replace(/\0+$/, '')).toBe('running');
      expect(value('has_vm_was_suspended')).toBe(1);
      const machine = name === 'pc-running' ? 'pc-i440fx-10.0' : 'pc-q35-10.0';
      expect(records[1]?.record).toMatchObject({ type: 'configuration', machine });
      expect(vmdesc?.configuration).toEqual({
        vmsd_name: 'configuration',
        version: 1,
        fields: [
          { name: 'len', type: 'uint32', size: 4 },
          { name: 'name', type: 'buffer', size: machine.length },
        ],
      });
    }
  });

  it('7.2: the vmdesc has no configuration key', async () => {
    expect((await inspectStream(vectorBytes('pc-running'))).vmdesc?.configuration).toBeUndefined();
  });
});
