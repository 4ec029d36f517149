import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { QEMU_7_2_COMMANDS } from '../src/grammar/constants.js';
import type { StreamRecord } from '../src/grammar/records.js';
import {
  writeCommand,
  writeConfiguration,
  writeEof,
  writeHeader,
  writeSectionEnd,
  writeSectionFooter,
  writeSectionFull,
  writeSectionPart,
  writeSectionStart,
  writeVmdesc,
} from '../src/grammar/stream-writer.js';
import { bytesOf, parseAll } from './helpers.js';

type ModelRecord =
  | { kind: 'start' | 'full'; sectionId: number; idstr: string; instanceId: number; versionId: number; body: Uint8Array }
  | { kind: 'part' | 'end'; sectionId: number; body: Uint8Array }
  | { kind: 'command'; command: number; payload: Uint8Array };

const idstrArb = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789:./_-'), minLength: 1, maxLength: 255 });
const bodyArb = fc.uint8Array({ maxLength: 300 });
const u32 = fc.nat({ max: 0xffffffff });

const fullHeaderArb = fc.record({
  kind: fc.constantFrom<'start' | 'full'>('start', 'full'),
  sectionId: u32,
  idstr: idstrArb,
  instanceId: u32,
  versionId: u32,
  body: bodyArb,
});
const commandArb = fc.oneof(
  fc.record({ kind: fc.constant<'command'>('command'), command: fc.constant(2), payload: fc.uint8Array({ minLength: 4, maxLength: 4 }) }),
  fc.record({ kind: fc.constant<'command'>('command'), command: fc.constantFrom(1, 4, 5, 8, 9), payload: fc.constant(new Uint8Array(0)) }),
  fc.record({ kind: fc.constant<'command'>('command'), command: fc.constantFrom(6, 10), payload: fc.uint8Array({ maxLength: 64 }) }),
);

/** A random, well-formed record sequence: PART/END only refer to ids already started. */
const sequenceArb = fc
  .array(fc.oneof(fullHeaderArb, commandArb, fc.record({ kind: fc.constantFrom<'part' | 'end'>('part', 'end'), pick: fc.nat(), body: bodyArb })), { maxLength: 25 })
  .map((items) => {
    const ids: number[] = [];
    const out: ModelRecord[] = [];
    for (const it of items) {
      if (it.kind === 'part' || it.kind === 'end') {
        if ('pick' in it && ids.length > 0) out.push({ kind: it.kind, sectionId: ids[it.pick % ids.length] as number, body: it.body });
        continue;
      }
      if (it.kind === 'start' || it.kind === 'full') ids.push(it.sectionId);
      out.push(it as ModelRecord);
    }
    return out;
  });

describe('stream properties', () => {
  test.prop([fc.string({ maxLength: 40 }), sequenceArb, fc.boolean()], { numRuns: 150 })(
    'write → read round trips random record sequences',
    async (machine, model, withVmdesc) => {
      const bytes = await bytesOf((f) => {
        writeHeader(f);
        writeConfiguration(f, machine);
        for (const m of model) {
          if (m.kind === 'command') writeCommand(f, m.command, m.payload);
          else {
            if (m.kind === 'start') writeSectionStart(f, m);
            else if (m.kind === 'full') writeSectionFull(f, m);
            else if (m.kind === 'part') writeSectionPart(f, m.sectionId);
            else writeSectionEnd(f, m.sectionId);
            f.putBuffer(m.body);
            writeSectionFooter(f, m.sectionId);
          }
        }
        writeEof(f);
        if (withVmdesc) writeVmdesc(f, { page_size: 4096, devices: [] });
      });
      const bodies: Buffer[] = [];
      let i = 0;
      const recs: StreamRecord[] = await parseAll(bytes, async (rec, r) => {
        if (rec.type === 'start' || rec.type === 'full' || rec.type === 'part' || rec.type === 'end') {
          const m = model[i] as ModelRecord & { body: Uint8Array };
          bodies.push(await r.getBytes(m.body.length));
        }
        if (rec.type !== 'header' && rec.type !== 'configuration' && rec.type !== 'eof' && rec.type !== 'vmdesc') i++;
      });
      expect(recs[1]).toMatchObject({ type: 'configuration', machine });
      const middle = recs.slice(2, 2 + model.length);
      expect(middle).toHaveLength(model.length);
      let b = 0;
      model.forEach((m, k) => {
        const rec = middle[k] as StreamRecord;
        expect(rec.type).toBe(m.kind);
        if (m.kind === 'command') expect(rec).toMatchObject({ command: m.command, payload: Buffer.from(m.payload), name: QEMU_7_2_COMMANDS.get(m.command)?.name });
        else {
          expect(rec).toMatchObject({ sectionId: m.sectionId });
          if (m.kind === 'start' || m.kind === 'full') expect(rec).toMatchObject({ idstr: m.idstr, instanceId: m.instanceId, versionId: m.versionId });
          expect(bodies[b++]).toEqual(Buffer.from(m.body));
        }
      });
      expect(recs.slice(2 + model.length).map((r) => r.type)).toEqual(withVmdesc ? ['eof', 'vmdesc'] : ['eof']);
    },
  );
});
