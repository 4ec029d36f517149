/**
 * The vmdesc checked over its bytes (issue 17 item 10): `scanVmdesc` may only vouch for what
 * `parseVmDescription` accepts, and `VmdescEntries` must find the entries `VmdescIndex` finds
 * in the parsed document (see `docs/design/hostile-input.md`, "Cost").
 */
import { fc, test } from '@fast-check/vitest';
import { MAX_VMDESC_DEPTH, MAX_VMDESC_VALUES, VmdescError, parseVmDescription, type VmDescription, type VmdescDevice } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { VmdescEntries } from '../src/vmdesc-entries.js';
import { VmdescIndex } from '../src/vmdesc-index.js';
import { scanVmdesc } from '../src/vmdesc-scan.js';
import { ALL_VECTORS, vectorBytes } from './fixtures/vectors.js';

/** The vmdesc JSON at the end of a QEMU vector. */
function vectorVmdesc(version: '7.2' | '10.0', name: string): Buffer {
  const b = vectorBytes(name, version);
  for (let p = b.length - 6; p > 0; p--) {
    if (b[p] === 0x06 && b[p + 5] === 0x7b && b.readUInt32BE(p + 1) === b.length - p - 5) return b.subarray(p + 5);
  }
  throw new Error(`no vmdesc in ${version}/${name}`);
}

/** What parseVmDescription says of the text the bytes decode to. */
function parsed(bytes: Buffer): VmDescription | VmdescError {
  try {
    return parseVmDescription(bytes.toString('utf8'));
  } catch (err) {
    if (err instanceof VmdescError) return err;
    throw err;
  }
}

/**
 * Checks the scan against the parse: a table only for an accepted text, and then the same
 * entries (each one's own text parses to the parsed document's entry) and page size.
 * @returns whether the scan vouched for it
 */
function agrees(bytes: Buffer): boolean {
  const table = scanVmdesc(bytes, 0, bytes.length);
  const doc = parsed(bytes);
  if (table === undefined) return false;
  if (doc instanceof VmdescError) throw new Error(`the scan vouched for a refused vmdesc (${doc.message}): ${bytes.toString('utf8').slice(0, 300)}`);
  expect(table.pageSize).toBe(doc.page_size);
  expect(table.count).toBe(doc.devices.length);
  for (let i = 0; i < table.count; i++) {
    expect(JSON.parse(bytes.toString('utf8', table.starts[i], table.ends[i]))).toEqual(doc.devices[i]);
    expect(JSON.parse(bytes.toString('utf8', table.nameStarts[i], table.nameEnds[i]))).toBe(doc.devices[i]?.name);
    expect(table.instanceIds[i]).toBe(doc.devices[i]?.instance_id);
  }
  return true;
}

/** JSON text of `v` with whitespace between tokens as `ws` says (no key repeated, none escaped). */
function spaced(v: unknown, ws: () => string): string {
  if (Array.isArray(v)) return `[${ws()}${v.map((x) => spaced(x, ws)).join(`${ws()},${ws()}`)}${ws()}]`;
  if (v !== null && typeof v === 'object') {
    const members = Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${JSON.stringify(k)}${ws()}:${ws()}${spaced(x, ws)}`);
    return `{${ws()}${members.join(`${ws()},${ws()}`)}${ws()}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

// Values where the checker looks, good and bad: counts at and past their bounds, wrong types.
const count = fc.oneof(
  { weight: 6, arbitrary: fc.nat(64) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1 << 20, 2 ** 31, 1.0) },
  { weight: 1, arbitrary: fc.constantFrom((1 << 20) + 1, 2 ** 31 + 1, -1, 1.5, '4', null, true) },
);
const wrong = fc.constantFrom<unknown>(null, true, 7, 'x', [], {}, [{}]);
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 3 });
const name = fc.oneof(fc.constantFrom('a', 'dev0', 'ram', 'é', 'a"b', 'a\\b', '\u2028', '\u0001'), fc.string({ maxLength: 6 }));
const tree = fc.letrec((tie) => ({
  field: fc.record(
    {
      name: fc.oneof({ weight: 9, arbitrary: name }, { weight: 1, arbitrary: wrong }),
      type: fc.oneof({ weight: 9, arbitrary: fc.constantFrom('uint8', 'uint32', 'int64', 'bool', 'buffer', 'struct', 'tmp') }, { weight: 1, arbitrary: wrong }),
      size: count,
      array_len: fc.option(count, { nil: undefined, freq: 2 }),
      struct: maybe(fc.oneof({ weight: 9, arbitrary: tie('struct') }, { weight: 1, arbitrary: wrong })),
      fields: maybe(fc.array(tie('field'), { maxLength: 2 })),
      other: maybe(fc.jsonValue({ maxDepth: 2 })),
    },
    { requiredKeys: ['name', 'type', 'size'] },
  ),
  struct: fc.record(
    {
      vmsd_name: fc.oneof({ weight: 9, arbitrary: name }, { weight: 1, arbitrary: wrong }),
      version: fc.nat(3),
      fields: fc.oneof({ weight: 9, arbitrary: fc.array(tie('field'), { maxLength: 3 }) }, { weight: 1, arbitrary: wrong }),
      subsections: maybe(fc.array(tie('struct'), { maxLength: 2 })),
    },
    { requiredKeys: ['vmsd_name', 'fields'] },
  ),
}));
const device = fc.record(
  {
    name: fc.oneof({ weight: 29, arbitrary: name }, { weight: 1, arbitrary: wrong }),
    instance_id: fc.oneof({ weight: 29, arbitrary: fc.oneof(fc.nat(3), fc.constantFrom(-1, 1.5, 2 ** 40)) }, { weight: 1, arbitrary: wrong }),
    vmsd_name: maybe(name),
    version: maybe(fc.nat(3)),
    size: maybe(count),
    fields: maybe(fc.array(tree.field, { maxLength: 3 })),
    subsections: maybe(fc.array(tree.struct, { maxLength: 2 })),
  },
  { requiredKeys: ['name', 'instance_id'] },
);
const document = fc.record(
  {
    configuration: maybe(tree.struct),
    page_size: maybe(fc.oneof(fc.constantFrom(4096, 65536, 0.5, -1), wrong)),
    devices: fc.oneof({ weight: 19, arbitrary: fc.array(device, { maxLength: 4 }) }, { weight: 1, arbitrary: wrong }),
  },
  { requiredKeys: ['devices'] },
);
const whitespace = fc.array(fc.constantFrom('', ' ', '\n', '\t', '\r\n  '), { minLength: 1, maxLength: 8 });
const spacing = (choices: readonly string[]): (() => string) => {
  let i = 0;
  return () => choices[i++ % choices.length] as string;
};

describe('scanVmdesc', () => {
  it('vouches for every QEMU vector’s vmdesc, with the same entries', () => {
    for (const [version, name] of ALL_VECTORS) expect(agrees(vectorVmdesc(version, name)), `${version}/${name}`).toBe(true);
  });

  test.prop([document, whitespace], { numRuns: 600 })('vouches for exactly the generated documents the parser accepts', (doc, ws) => {
    const bytes = Buffer.from(spaced(doc, spacing(ws)), 'utf8');
    // No key repeated or escaped, no escape in a `type`: the scan decides every one of them itself.
    const escapedType = /"type"\s*:\s*"[^"]*\\/.test(bytes.toString('utf8'));
    expect(agrees(bytes)).toBe(!(parsed(bytes) instanceof VmdescError) && !escapedType);
  });

  test.prop([document, whitespace, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 })], { numRuns: 600 })(
    'never vouches for a damaged document the parser refuses',
    (doc, ws, edits) => {
      const bytes = Buffer.from(spaced(doc, spacing(ws)), 'utf8');
      for (const [at, byte] of edits) bytes[at % bytes.length] = byte;
      agrees(bytes);
    },
  );

  test.prop(
    [fc.nat(20), fc.nat(), fc.nat(), fc.constantFrom(0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x31, 0x2d, 0x20, 0x65, 0x2e, 0x74, 0x01, 0x80, 0xc3), fc.boolean()],
    { numRuns: 600 },
  )('checks an entry that repeats another one’s text but for one byte', (n, which, at, byte, insert) => {
    const one = { vmsd_name: 'd', version: 1, fields: [{ name: 'a', type: 'uint32', size: 4, array_len: 2 }, { name: 'b', type: 'struct', size: 8, struct: { vmsd_name: 's', version: 0, fields: [] } }] };
    const devices = Array.from({ length: n + 2 }, (_, i) => ({ name: `dev${i}`, instance_id: i % 3, ...one }));
    const text = Buffer.from(JSON.stringify({ page_size: 4096, devices }, null, which % 3 === 0 ? undefined : 1), 'utf8');
    // One byte changed or added anywhere in one entry after the first, which the scan would
    // otherwise find equal to the first but for its name and instance id.
    let start = text.indexOf('"name"');
    for (let k = 0, target = 1 + (which % (n + 1)); k < target; k++) start = text.indexOf('"name": "dev', start + 1) >= 0 ? text.indexOf('"name": "dev', start + 1) : text.indexOf('"name":"dev', start + 1);
    const from = text.lastIndexOf('{', start);
    const pos = from + (at % (text.length - from));
    const bytes = insert ? Buffer.concat([text.subarray(0, pos), Buffer.from([byte]), text.subarray(pos)]) : Buffer.from(text);
    if (!insert) bytes[pos] = byte;
    agrees(bytes);
  });

  it('takes repeated entries as the first one, each with its own name and instance id', () => {
    const devices = Array.from({ length: 1000 }, (_, i) => ({ name: `dev${i}`, instance_id: i & 1, size: 16, fields: [{ name: 'data', type: 'buffer', size: 16 }] }));
    const bytes = Buffer.from(JSON.stringify({ page_size: 4096, devices }), 'utf8');
    const table = scanVmdesc(bytes, 0, bytes.length);
    expect(table?.count).toBe(1000);
    expect([...(table?.templates ?? [])].slice(0, 1000).every((t) => t === 0)).toBe(true);
    expect(agrees(bytes)).toBe(true);
  });

  it('vouches for repeated entries that differ from the first in their spacing only', () => {
    const entry = (i: number, gap: string, before: string): string =>
      `{"name":${gap}"dev${i}",${gap}"instance_id": ${before}${i},${gap}"size": 4, "fields": [{"name": "a", "type": "uint32", "size": 4}]${gap}}`;
    for (const [gap, before] of [[' ', ''], ['  ', ''], ['\n', ''], ['', ''], [' ', ' '], [' ', '\t']] as const) {
      for (let odd = 1; odd < 4; odd++) {
        const text = `{"devices": [${[0, 1, 2, 3].map((i) => (i === odd ? entry(i, gap, before) : entry(i, ' ', ''))).join(', ')}]}`;
        expect(agrees(Buffer.from(text, 'utf8')), text).toBe(true);
      }
    }
  });

  it('refuses at the same budgets as the parser: values, array_len, size, depth', () => {
    const leaf = (arrayLen: number) => ({ name: 'a', type: 'uint8', size: 0, array_len: arrayLen });
    const docs: unknown[] = [];
    for (const n of [MAX_VMDESC_VALUES - 2, MAX_VMDESC_VALUES - 1, MAX_VMDESC_VALUES, MAX_VMDESC_VALUES + 1]) {
      docs.push({ devices: [{ name: 'x', instance_id: 0, fields: [leaf(n)] }] });
      docs.push({ devices: [{ name: 'x', instance_id: 0, fields: [leaf(n - 1)] }, { name: 'y', instance_id: 0 }] });
      docs.push({ configuration: { vmsd_name: 'c', fields: [leaf(n - 2)] }, devices: [{ name: 'x', instance_id: 0 }] });
      docs.push({ devices: [{ name: 'x', instance_id: 0, fields: [{ name: 'f', type: 'uint8', size: n * 2048 }] }] });
    }
    for (let depth = MAX_VMDESC_DEPTH - 2; depth <= MAX_VMDESC_DEPTH + 2; depth++) {
      let f: Record<string, unknown> = { name: 'l', type: 'uint8', size: 1 };
      for (let i = 0; i < depth; i++) f = { name: 'n', type: 'struct', size: 1, struct: { vmsd_name: 'v', version: 0, fields: [f] } };
      docs.push({ devices: [{ name: 'x', instance_id: 0, fields: [f] }] });
      let t: Record<string, unknown> = { name: 'l', type: 'uint8', size: 1 };
      for (let i = 0; i < depth; i++) t = { name: 't', type: 'tmp', size: 1, fields: [t] };
      docs.push({ devices: [{ name: 'x', instance_id: 0, fields: [t] }] });
      let s: Record<string, unknown> = { vmsd_name: 'leaf', fields: [] };
      for (let i = 0; i < depth; i++) s = { vmsd_name: 's', fields: [], subsections: [s] };
      docs.push({ devices: [{ name: 'x', instance_id: 0, subsections: [s] }] });
    }
    const verdicts = docs.map((d) => {
      const bytes = Buffer.from(JSON.stringify(d), 'utf8');
      const accepted = !(parsed(bytes) instanceof VmdescError);
      expect(agrees(bytes)).toBe(accepted);
      return accepted;
    });
    // Both sides of every bound were tried.
    expect(verdicts).toContain(true);
    expect(verdicts).toContain(false);
  });

  it('leaves to the parser what it cannot tell: a repeated or escaped key, a BOM, trailing bytes', () => {
    for (const text of [
      '{"devices": [], "devices": []}',
      '{"devices": [{"name": "a", "instance_id": 0, "name": 5}]}',
      '{"devic\\u0065s": []}',
      '{"devices": [{"name": "a", "instance_id": 0, "fields": [{"name": "f", "type": "struc\\u0074", "size": 1}]}]}',
      '\ufeff{"devices": []}',
      '{"devices": []} x',
      '{"devices": [01]}',
      '{"devices": [{"name": "\\u12G4", "instance_id": 0}]}',
      '{"devices": [{"name": "a\\x", "instance_id": 0}]}',
      '{"devices": [{"name": "a\u0001", "instance_id": 0}]}',
      '{"devices": [{"name": "a", "instance_id": 1.}]}',
      '{"devices": [{"name": "a", "instance_id": -}]}',
      '{"devices": [{"name": "a", "instance_id": 1e}]}',
      '{"devices": [], "x": tru}',
      '{"devices": [], "x": é}',
      '{"devices": [],}',
      `{"devices": [], "x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    ]) {
      const bytes = Buffer.from(text, 'utf8');
      expect(scanVmdesc(bytes, 0, bytes.length), text.slice(0, 80)).toBeUndefined();
      agrees(bytes);
    }
    const pageSize = Buffer.from('{"devices": [], "page_size": {"x": [1]}}');
    expect(scanVmdesc(pageSize, 0, pageSize.length)?.pageSize).toBe(4096);
    const huge = Buffer.from('{"devices": [], "page_size": 1e400}');
    expect(scanVmdesc(huge, 0, huge.length)?.pageSize).toBe(Infinity);
    expect(agrees(huge)).toBe(true);
  });
});

describe('VmdescEntries', () => {
  const lookups = fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'é'), fc.nat(2)), { maxLength: 30 });
  const entries = fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'é', 'a"'), fc.nat(2), fc.constantFrom(8, 16)), { maxLength: 12 });

  /** What an entry says of the body: all but its name and instance id (see `VmdescLookup.find`). */
  const body = (d: VmdescDevice | undefined): Omit<VmdescDevice, 'name' | 'instance_id'> | undefined => {
    if (d === undefined) return undefined;
    const { name: _name, instance_id: _id, ...rest } = d;
    return rest;
  };

  test.prop([entries, lookups, fc.boolean()], { numRuns: 300 })('finds what VmdescIndex finds in the parsed document', (list, asks, inOrder) => {
    const devices = list.map(([n, id, size]) => ({ name: n, instance_id: id, size, fields: [{ name: 'data', type: 'buffer', size }] }));
    const bytes = Buffer.from(JSON.stringify({ page_size: 4096, devices }), 'utf8');
    const table = scanVmdesc(bytes, 0, bytes.length);
    if (table === undefined) throw new Error('not vouched for');
    const fast = new VmdescEntries(bytes, table);
    const slow = new VmdescIndex(parseVmDescription(bytes.toString('utf8')));
    // In order (QEMU's case: each guess is right), or whatever order the lookups come in.
    const order = inOrder ? devices.map((d) => [d.name, d.instance_id] as const) : asks;
    for (const [n, id] of order) expect(body(fast.find(n, id))).toEqual(body(slow.find(n, id)));
  });

  test('hands one object for entries worded the same, and the first entry of their kind as it is', () => {
    const devices = [0, 1, 2].map((i) => ({ name: `dev${i}`, instance_id: 0, size: 16, fields: [{ name: 'data', type: 'buffer', size: 16 }] }));
    const bytes = Buffer.from(JSON.stringify({ page_size: 4096, devices }), 'utf8');
    const table = scanVmdesc(bytes, 0, bytes.length);
    if (table === undefined) throw new Error('not vouched for');
    const entries = new VmdescEntries(bytes, table);
    const first = entries.find('dev0', 0);
    expect(first).toEqual(devices[0]);
    expect(entries.find('dev1', 0)).toBe(first);
    expect(entries.find('dev2', 0)).toBe(first);
    expect(entries.find('dev3', 0)).toBeUndefined();
  });
});
