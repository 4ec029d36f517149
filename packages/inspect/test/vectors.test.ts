import { describe, expect, it } from 'vitest';
import { inspectStream } from '../src/index.js';
import { parseSectionsTxt } from './fixtures/sections-txt.js';
import { VECTOR_NAMES, vectorBytes, vectorListing } from './fixtures/vectors.js';

describe('QEMU 7.2 vectors parse to exactly their .sections.txt records', () => {
  for (const name of VECTOR_NAMES) {
    it(name, async () => {
      const bytes = vectorBytes(name);
      const listed = parseSectionsTxt(vectorListing(name));
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
            throw new Error('no commands expected in these vectors');
        }
      }
      expect(ours).toEqual(listed);
      expect(listed.length).toBeGreaterThan(10);
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
});
