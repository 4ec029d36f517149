/**
 * QEMU's `-dump-vmstate` documents (7.2's and 10.0's) through the loader: every device type
 * and every description in them, laid out for the engine (or refused naming the field the
 * dump alone cannot decide); malformed documents refused naming the JSON path; and a
 * property test of the codec: any body of the right length that a dumped description lays
 * out decodes and encodes back byte for byte.
 */
import { fc, test } from '@fast-check/vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { VmStateDefinitionError, defineVmState } from '../src/index.js';
import {
  QemuLayoutError,
  QemuVmstateDumpError,
  decodeQemuSection,
  encodeQemuSection,
  layoutFromDump,
  parseQemuVmstateDump,
  type QemuDumpDescription,
  type QemuDumpField,
} from '../src/vmstate/qemu/index.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

function dumpText(version: '7.2' | '10.0'): string {
  return gunzipSync(readFileSync(`${fixtures}qemu-${version}/qemu-${version}-dump-vmstate.json.gz`)).toString('utf8');
}

/** Every description object in the raw document, nested ones and subsections included. */
function rawDescriptionCount(doc: Record<string, { Description?: unknown }>): number {
  let n = 0;
  const walk = (d: { Fields?: { Description?: unknown }[]; Subsections?: unknown[] }): void => {
    n++;
    for (const f of d.Fields ?? []) if (f.Description) walk(f.Description as typeof d);
    for (const s of d.Subsections ?? []) walk(s as typeof d);
  };
  for (const entry of Object.values(doc)) if (entry.Description) walk(entry.Description as Parameters<typeof walk>[0]);
  return n;
}

describe.each([
  ['7.2', 214, false],
  ['10.0', 215, true],
] as const)('QEMU %s -dump-vmstate', (version, entries, hasNum) => {
  const text = dumpText(version);
  const raw = JSON.parse(text) as Record<string, { Description?: unknown }>;
  const dump = parseQemuVmstateDump(text);

  it(`loads all ${entries} entries: the machine and every device type`, () => {
    expect(Object.keys(raw)).toHaveLength(entries);
    expect(dump.machine).toBe('none');
    expect(dump.devices.size).toBe(entries - 1);
    for (const [type, device] of dump.devices) expect(device.description === undefined).toBe(raw[type]?.Description === undefined);
  });

  it('indexes every description by name, each variant once', () => {
    let variants = 0;
    for (const [name, list] of dump.descriptions) {
      for (const d of list) expect(d.name).toBe(name);
      variants += list.length;
    }
    expect(variants).toBeLessThanOrEqual(rawDescriptionCount(raw));
    expect(dump.descriptions.get('fdc')?.length).toBeGreaterThan(1);
    expect(dump.descriptions.get('PCIDevice')?.[0]?.fields.map((f) => f.name)).toEqual(['version_id', 'config', 'config', 'irq_state']);
  });

  it(hasNum ? 'keeps num for fixed arrays' : 'has no num (7.2 does not dump it)', () => {
    const counts = [...dump.descriptions.values()].flat().flatMap((d) => d.fields.filter((f) => f.count !== undefined));
    expect(counts.length > 0).toBe(hasNum);
  });

  it('lays out every description with the dump alone, or names the conditional field it cannot decide', () => {
    let laidOut = 0;
    let undecidable = 0;
    for (const list of dump.descriptions.values()) {
      for (const d of list) {
        try {
          const layout = layoutFromDump(d, d.version);
          try {
            defineVmState(layout);
          } catch (err) {
            // The engine's own check wants `parent/part` subsection names; QEMU's loader only
            // wants the parent's name as a prefix (`vga.endian`, `pckbd_outport`).
            expect(err).toBeInstanceOf(VmStateDefinitionError);
            const m = /^vmstate (.+): subsection name "(.+)" must be/.exec((err as Error).message);
            expect(m?.[2]?.startsWith(m[1] as string)).toBe(true);
          }
          laidOut++;
        } catch (err) {
          expect(err).toBeInstanceOf(QemuLayoutError);
          const e = err as QemuLayoutError;
          expect(e.reason).toBe('UNDECIDABLE');
          expect(e.field).toMatch(/\./);
          undecidable++;
        }
      }
    }
    expect(laidOut).toBeGreaterThan(200);
    expect(laidOut + undecidable).toBe([...dump.descriptions.values()].flat().length);
  });
});

describe('malformed dumps', () => {
  it.each([
    ['not JSON', '{', '(document)'],
    ['not an object', '[]', '(document)'],
    ['a Name that differs from its key', '{"a":{"Name":"b"}}', 'a.Name'],
    ['a size that is not a number', '{"a":{"Name":"a","Description":{"name":"a","version_id":1,"minimum_version_id":1,"Fields":[{"field":"x","version_id":0,"field_exists":false,"size":"4"}]}}}', 'a.Description.Fields[0].size'],
    ['field_exists that is not a boolean', '{"a":{"Name":"a","Description":{"name":"a","version_id":1,"minimum_version_id":1,"Fields":[{"field":"x","version_id":0,"field_exists":0,"size":4}]}}}', 'a.Description.Fields[0].field_exists'],
    ['Subsections that are not an array', '{"a":{"Name":"a","Description":{"name":"a","version_id":1,"minimum_version_id":1,"Subsections":{}}}}', 'a.Description.Subsections'],
  ])('refuses %s, naming the path', (_, text, path) => {
    let caught: unknown;
    try {
      parseQemuVmstateDump(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(QemuVmstateDumpError);
    expect((caught as QemuVmstateDumpError).path).toBe(path);
  });
});

// ---- property: a dumped description's codec is exact on any body of the right length ----

const leafSize = fc.constantFrom(1, 2, 4, 8, 3, 16);

function fieldArb(depth: number): fc.Arbitrary<QemuDumpField> {
  const leaf = fc.record({ size: leafSize, count: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }) });
  const base = (name: string): QemuDumpField => ({ name, since: 0, conditional: false, size: 1 });
  if (depth <= 0) return leaf.map(({ size, count }) => ({ ...base('x'), size, ...(count === undefined ? {} : { count }) }));
  return fc.oneof(
    { weight: 3, arbitrary: fieldArb(0) },
    {
      weight: 1,
      arbitrary: fc.record({ d: descriptionArb(depth - 1, 'nested'), count: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }) }).map(({ d, count }) => ({
        ...base('s'),
        size: 64,
        description: d,
        ...(count === undefined ? {} : { count }),
      })),
    },
  );
}

function descriptionArb(depth: number, name: string): fc.Arbitrary<QemuDumpDescription> {
  return fc.array(fieldArb(depth), { maxLength: 6 }).map((fields) => ({
    name,
    version: 1,
    minimumVersion: 1,
    fields: fields.map((f, i) => ({ ...f, name: `${f.name}${i}` })),
    subsections: [],
  }));
}

function wireSize(d: QemuDumpDescription): number {
  return d.fields.reduce((n, f) => n + (f.description ? wireSize(f.description) : f.size) * (f.count ?? 1), 0);
}

describe('codec property', () => {
  test.prop([descriptionArb(2, 'dev').chain((d) => fc.tuple(fc.constant(d), fc.uint8Array({ minLength: wireSize(d), maxLength: wireSize(d) })))], {
    numRuns: 200,
    seed: 19,
  })('any body of the right length decodes and re-encodes byte for byte', async ([d, body]) => {
    const dump = { devices: new Map(), descriptions: new Map([[d.name, [d]]]) };
    const section = await decodeQemuSection({ idstr: `0000:00:02.0/${d.name}`, instanceId: 0, versionId: 1, body, bodyOffset: 100 }, dump);
    expect(section.source).toBe('dump');
    expect(Buffer.from(await encodeQemuSection(section)).equals(Buffer.from(body))).toBe(true);
  });
});
