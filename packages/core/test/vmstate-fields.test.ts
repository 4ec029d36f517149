/**
 * Every field kind of a declarative description: the exact bytes written, the vmdesc
 * entries (QEMU's key order, array_len / index, repeated names), and the round trip back
 * into a fresh state object.
 */
import { decodeStruct } from '@savevm/inspect';
import { MemoryWriteChannel, QemuFileWriter, toQemuJson, type VmdescStruct } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import {
  VmStateDefinitionError,
  VmStateSaveError,
  defineVmState,
  loadVmState,
  saveVmState,
  vmstateElements as el,
  vmstateFields,
  type VmStateDescription,
} from '../src/index.js';
import { readerOf } from './helpers/world.js';

interface Point {
  x: number;
  y: number;
}
interface Everything {
  u8: number;
  u16: number;
  u32: number;
  u64: bigint;
  i8: number;
  i16: number;
  i32: number;
  i64: bigint;
  flag: boolean;
  fixed: Uint8Array;
  length: number;
  payload: Uint8Array;
  words: number[];
  count: number;
  points: Point[];
  origin: Point;
  single: bigint[];
}

const p = vmstateFields<Point>();
const pointVmState = defineVmState<Point>({
  name: 'point',
  version: 1,
  fields: [p.int16('x'), p.int16('y')],
  create: () => ({ x: 0, y: 0 }),
});

const f = vmstateFields<Everything>();
const everythingVmState = defineVmState<Everything>({
  name: 'everything',
  version: 3,
  minimumVersion: 1,
  fields: [
    f.uint8('u8'),
    f.uint16('u16'),
    f.uint32('u32'),
    f.uint64('u64'),
    f.int8('i8'),
    f.int16('i16'),
    f.int32('i32'),
    f.int64('i64'),
    f.bool('flag'),
    f.buffer('fixed', 3),
    f.unused(2),
    f.uint16('length'),
    f.vbuffer('payload', 'length', 16),
    f.array('words', el.uint16(), 3),
    f.uint8('count'),
    f.varray('points', el.struct(pointVmState), 'count', 4),
    f.struct('origin', pointVmState),
    f.unused(1),
    f.array('single', el.int64(), 1, { name: 'one' }),
  ],
});

function sample(): Everything {
  return {
    u8: 0xfe,
    u16: 0xbeef,
    u32: 0xdeadbeef,
    u64: 0xffff_ffff_ffff_fffen,
    i8: -2,
    i16: -300,
    i32: -70000,
    i64: -(2n ** 63n),
    flag: true,
    fixed: Buffer.from('abc'),
    length: 2,
    payload: Buffer.from([9, 8]),
    words: [1, 2, 0xffff],
    count: 2,
    points: [
      { x: 1, y: -1 },
      { x: 2, y: -2 },
    ],
    origin: { x: 7, y: 8 },
    single: [5n],
  };
}

function zero(): Everything {
  return {
    u8: 0, u16: 0, u32: 0, u64: 0n, i8: 0, i16: 0, i32: 0, i64: 0n, flag: false,
    fixed: Buffer.alloc(3), length: 0, payload: Buffer.alloc(0), words: [0, 0, 0], count: 0, points: [],
    origin: { x: 0, y: 0 }, single: [0n],
  };
}

async function save<S>(d: VmStateDescription<S>, state: S): Promise<{ bytes: Buffer; vmdesc: VmdescStruct }> {
  const channel = new MemoryWriteChannel();
  const w = new QemuFileWriter(channel);
  const vmdesc = await saveVmState(w, d, state);
  await w.flush();
  return { bytes: channel.bytes(), vmdesc };
}

describe('every field kind', () => {
  it('writes QEMU\'s bytes: big-endian scalars, raw buffers, zeros for unused, arrays and structs in place', async () => {
    const { bytes } = await save(everythingVmState, sample());
    expect(bytes.toString('hex')).toBe(
      [
        'fe', 'beef', 'deadbeef', 'fffffffffffffffe', // unsigned
        'fe', 'fed4', 'fffeee90', '8000000000000000', // signed
        '01', '616263', '0000', // bool, buffer, unused
        '0002', '0908', // length, vbuffer
        '00010002ffff', // words (3 × be16)
        '02', '0001ffff', '0002fffe', // count, points
        '00070008', '00', '0000000000000005', // origin, unused, single
      ].join(''),
    );
  });

  it('round-trips into a fresh state', async () => {
    const { bytes } = await save(everythingVmState, sample());
    const loaded = zero();
    const r = readerOf(bytes);
    await loadVmState(r, everythingVmState, loaded, 3);
    expect(r.offset).toBe(bytes.length);
    expect(loaded).toEqual({ ...sample(), fixed: Buffer.from('abc'), payload: Buffer.from([9, 8]) });
  });

  it('keeps nested objects and array elements that exist (identity), creates the rest', async () => {
    const { bytes } = await save(everythingVmState, sample());
    const loaded = zero();
    const origin = loaded.origin;
    const first = { x: 0, y: 0 };
    loaded.points = [first];
    await loadVmState(readerOf(bytes), everythingVmState, loaded, 3);
    expect(loaded.origin).toBe(origin);
    expect(loaded.points[0]).toBe(first);
    expect(loaded.points[1]).toEqual({ x: 2, y: -2 });
  });

  it('describes itself as QEMU does: key order, array_len, a single element plain, repeated names numbered', async () => {
    const { bytes, vmdesc } = await save(everythingVmState, sample());
    const json = toQemuJson(vmdesc);
    expect(json.startsWith('{"vmsd_name": "everything", "version": 3, "fields": [{"name": "u8", "type": "uint8", "size": 1}')).toBe(true);
    const byName = new Map(vmdesc.fields.map((x) => [x.name, x]));
    expect(byName.get('unused[0]')).toEqual({ name: 'unused[0]', type: 'unused_buffer', size: 2 });
    expect(byName.get('unused[1]')).toEqual({ name: 'unused[1]', type: 'unused_buffer', size: 1 });
    expect(byName.get('payload')).toEqual({ name: 'payload', type: 'buffer', size: 2 });
    expect(byName.get('words')).toEqual({ name: 'words', array_len: 3, type: 'uint16', size: 2 });
    expect(toQemuJson(byName.get('points'))).toBe(
      '{"name": "points", "array_len": 2, "type": "struct", "struct": {"vmsd_name": "point", "version": 1, "fields": ' +
        '[{"name": "x", "type": "int16", "size": 2}, {"name": "y", "type": "int16", "size": 2}]}, "size": 4}',
    );
    expect(byName.get('one')).toEqual({ name: 'one', type: 'int64', size: 8 });
    expect(byName.get('flag')).toEqual({ name: 'flag', type: 'bool', size: 1 });
    // The stream package's vmdesc-guided decoder reads exactly the body with it.
    const r = readerOf(bytes);
    const decoded = await decodeStruct(r, vmdesc);
    expect(r.offset).toBe(bytes.length);
    expect(decoded.fields.find((x) => x.name === 'i64')?.value).toBe(-(2n ** 63n));
  });

  it('an array of structs with subsections is described once per element, with its index (not compressible)', async () => {
    interface Cell {
      v: number;
      extra: number;
    }
    interface Grid {
      cells: Cell[];
    }
    const c = vmstateFields<Cell>();
    const cell = defineVmState<Cell>({
      name: 'cell',
      version: 1,
      fields: [c.uint8('v')],
      subsections: [{ name: 'cell/extra', version: 1, fields: [c.uint8('extra')], needed: (s) => s.extra !== 0 }],
      create: () => ({ v: 0, extra: 0 }),
    });
    const grid = defineVmState<Grid>({ name: 'grid', version: 1, fields: [vmstateFields<Grid>().array('cells', el.struct(cell), 2)] });
    const { bytes, vmdesc } = await save(grid, { cells: [{ v: 1, extra: 0 }, { v: 2, extra: 3 }] });
    expect(bytes.toString('hex')).toBe('01' + '02' + '05' + '0a' + Buffer.from('cell/extra').toString('hex') + '00000001' + '03');
    expect(vmdesc.fields.map((x) => [x.name, x.index, x.array_len, x.size, x.struct?.subsections?.length])).toEqual([
      ['cells', 0, undefined, 1, undefined],
      ['cells', 1, undefined, 1 + 1 + 1 + 10 + 4 + 1, 1], // the element, its subsection included
    ]);
    const loaded: Grid = { cells: [] };
    await loadVmState(readerOf(bytes), grid, loaded, 1);
    expect(loaded.cells).toEqual([{ v: 1, extra: 0 }, { v: 2, extra: 3 }]);
  });

  it('arrays of zero elements write nothing and are not described', async () => {
    const { bytes, vmdesc } = await save(everythingVmState, { ...sample(), count: 0, points: [] });
    expect(vmdesc.fields.some((x) => x.name === 'points')).toBe(false);
    const loaded = zero();
    loaded.points = [{ x: 1, y: 1 }];
    await loadVmState(readerOf(bytes), everythingVmState, loaded, 3);
    expect(loaded.points).toEqual([]);
  });
});

describe('save-side checks', () => {
  it.each([
    ['u8', 256, /u8: 256 is outside uint8/],
    ['i8', -129, /i8: -129 is outside int8/],
    ['u32', 1.5, /u32: expected an integer number/],
    ['u64', 1, /u64: expected a bigint/],
    ['i64', 2n ** 63n, /is outside int64/],
    ['flag', 1, /flag: expected a boolean/],
    ['fixed', Buffer.alloc(4), /fixed: the buffer has 4 bytes; the description says 3/],
    ['payload', Buffer.alloc(3), /payload: the buffer has 3 bytes; the description says 2/],
    ['words', [1, 2], /words: the array has 2 elements; the description says 3/],
    ['origin', null, /origin: expected an object for point/],
  ] as const)('%s = %s is refused with a VmStateSaveError naming the field', async (key, value, message) => {
    const state = { ...sample(), [key]: value } as Everything;
    const err = await save(everythingVmState, state).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmStateSaveError);
    expect((err as VmStateSaveError).description).toBe('everything');
    expect(String((err as Error).message)).toMatch(message);
  });

  it('a length above the maximum is refused on save too', async () => {
    const err = await save(everythingVmState, { ...sample(), length: 17, payload: Buffer.alloc(17) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmStateSaveError);
    expect((err as Error).message).toMatch(/above the maximum 16/);
  });

  it('pre-save runs first (it may compute a length), post-save runs after, even on failure', async () => {
    interface Msg {
      len: number;
      text: Uint8Array;
    }
    const events: string[] = [];
    const m = vmstateFields<Msg>();
    const msg = defineVmState<Msg>({
      name: 'msg',
      version: 1,
      fields: [m.uint8('len'), m.vbuffer('text', 'len', 8)],
      async preSave(s) {
        events.push('pre');
        s.len = s.text.length;
      },
      postSave: () => void events.push('post'),
    });
    const { bytes } = await save(msg, { len: 0, text: Buffer.from('hi') });
    expect(bytes.toString('hex')).toBe('026869');
    await expect(save(msg, { len: 0, text: Buffer.alloc(9) })).rejects.toThrow(VmStateSaveError);
    expect(events).toEqual(['pre', 'post', 'pre', 'post']);
  });
});

describe('definition checks', () => {
  interface S {
    a: number;
    b: Uint8Array;
    c: number[];
  }
  const s = vmstateFields<S>();
  it.each<[string, VmStateDescription<S>, RegExp]>([
    ['empty name', { name: '', version: 1, fields: [] }, /name must not be empty/],
    ['minimum above version', { name: 'x', version: 1, minimumVersion: 2, fields: [] }, /minimum version 2 is above version 1/],
    ['field newer than the description', { name: 'x', version: 1, fields: [s.uint8('a', { since: 2 })] }, /since version 2 is above/],
    ['length field declared after', { name: 'x', version: 1, fields: [s.vbuffer('b', 'a', 4), s.uint8('a')] }, /must be declared before it/],
    ['length field newer', { name: 'x', version: 2, fields: [s.uint8('a', { since: 2 }), s.vbuffer('b', 'a', 4)] }, /appears in a later version/],
    ['same key twice', { name: 'x', version: 1, fields: [s.uint8('a'), s.uint16('a')] }, /two fields use the state property "a"/],
    ['bad subsection name', { name: 'x', version: 1, fields: [], subsections: [{ name: 'y/z', version: 1, fields: [], needed: () => true }] }, /must be "x\/<part>"/],
    ['struct array element without create', { name: 'x', version: 1, fields: [s.array('c', el.struct({ name: 'e', version: 1, fields: [] }) as never, 1)] }, /need a create\(\)/],
    ['negative buffer size', { name: 'x', version: 1, fields: [s.buffer('b', -1)] }, /size -1 is not between/],
  ])('%s', (_label, d, message) => {
    expect(() => defineVmState(d)).toThrow(VmStateDefinitionError);
    expect(() => defineVmState(d)).toThrow(message);
  });
});

describe('typed field factories', () => {
  it('accept only keys whose property has the field\'s JavaScript type (checked by tsc)', () => {
    const t = vmstateFields<Everything>();
    // @ts-expect-error a buffer property is not a number
    t.uint32('fixed');
    // @ts-expect-error 64-bit fields need a bigint property
    t.uint64('u32');
    // @ts-expect-error a bool field needs a boolean property
    t.bool('u8');
    // @ts-expect-error the element type must match the array's
    t.array('words', el.uint64(), 3);
    // @ts-expect-error the nested description must describe the property's type
    t.struct('origin', everythingVmState);
    expect(t.array('single', el.int64(), 1).kind).toBe('array');
  });
});
