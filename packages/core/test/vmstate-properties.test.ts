/**
 * Property tests of the declarative route: random descriptions (every field kind,
 * nesting, subsections sent or not) with random values round-trip; the vmdesc written
 * for them lets the stream package's decoder read exactly the body; truncated or
 * corrupted bodies give typed errors, never a crash, and leave the state untouched.
 */
import { fc, test } from '@fast-check/vitest';
import { decodeStruct } from '@savevm/inspect';
import { MemoryWriteChannel, QemuFileWriter } from '@savevm/stream';
import { describe, expect } from 'vitest';
import {
  VmStateLoadError,
  defineVmState,
  loadVmState,
  saveVmState,
  type VmStateDescription,
  type VmStateElement,
  type VmStateField,
  type VmStateIntegerType,
  type VmStateScalarType,
  type VmStateSubsection,
} from '../src/index.js';
import { readerOf } from './helpers/world.js';

type State = Record<string, unknown>;
type Description = VmStateDescription<State>;

// ---- shapes: what a random description looks like, before keys and names are given ----

type ElementShape = { t: 'scalar'; type: VmStateScalarType } | { t: 'struct'; desc: DescShape };
type FieldShape =
  | { t: 'scalar'; type: VmStateScalarType }
  | { t: 'buffer'; size: number }
  | { t: 'unused'; size: number }
  | { t: 'vbuffer'; lengthType: VmStateIntegerType; max: number }
  | { t: 'array'; element: ElementShape; length: number }
  | { t: 'varray'; element: ElementShape; lengthType: VmStateIntegerType; max: number }
  | { t: 'struct'; desc: DescShape };
interface DescShape {
  fields: FieldShape[];
  subsections: { fields: FieldShape[]; sent: boolean }[];
}

const scalarTypes: VmStateScalarType[] = ['uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'int64', 'bool'];
const lengthTypes: VmStateIntegerType[] = ['uint8', 'uint16', 'uint32'];

const { desc: descShapeArb } = fc.letrec<{ desc: DescShape; field: FieldShape; element: ElementShape }>((tie) => ({
  element: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ t: fc.constant('scalar' as const), type: fc.constantFrom(...scalarTypes) }),
    fc.record({ t: fc.constant('struct' as const), desc: tie('desc') }),
  ),
  field: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ t: fc.constant('scalar' as const), type: fc.constantFrom(...scalarTypes) }),
    fc.record({ t: fc.constant('buffer' as const), size: fc.nat({ max: 8 }) }),
    fc.record({ t: fc.constant('unused' as const), size: fc.nat({ max: 4 }) }),
    fc.record({ t: fc.constant('vbuffer' as const), lengthType: fc.constantFrom(...lengthTypes), max: fc.nat({ max: 16 }) }),
    fc.record({ t: fc.constant('array' as const), element: tie('element'), length: fc.nat({ max: 3 }) }),
    fc.record({ t: fc.constant('varray' as const), element: tie('element'), lengthType: fc.constantFrom(...lengthTypes), max: fc.nat({ max: 3 }) }),
    fc.record({ t: fc.constant('struct' as const), desc: tie('desc') }),
  ),
  desc: fc.record({
    fields: fc.array(tie('field'), { maxLength: 4 }),
    subsections: fc.array(fc.record({ fields: fc.array(tie('field'), { maxLength: 3 }), sent: fc.boolean() }), { maxLength: 2 }),
  }),
}));

// ---- materializing a shape into a description and a value arbitrary ----

interface Built {
  readonly description: Description;
  /** Values for the fields (and sent-or-not subsections) of one state object. */
  readonly values: fc.Arbitrary<State>;
  /** A zero state, for `create()` and as the destination's starting point. */
  readonly zero: () => State;
}

function scalarArb(type: VmStateScalarType): fc.Arbitrary<unknown> {
  switch (type) {
    case 'bool':
      return fc.boolean();
    case 'uint64':
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case 'int64':
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    default: {
      const bits = Number(type.replace(/\D/g, ''));
      const signed = type.startsWith('int');
      return fc.integer({ min: signed ? -(2 ** (bits - 1)) : 0, max: signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1 });
    }
  }
}

function scalarZero(type: VmStateScalarType): unknown {
  return type === 'bool' ? false : type.endsWith('64') ? 0n : 0;
}

let serial = 0;

/**
 * Names are chosen so that none is a prefix of another's subsection names (QEMU matches
 * subsections by prefix), and array elements start with a non-empty field (an element with
 * no bytes before its subsections is ambiguous in QEMU's format too).
 */
function build(shape: DescShape, name: string, asElement = false): Built {
  const keyPrefix = 'k';
  const fields: VmStateField<State>[] = [];
  const arbs: Record<string, fc.Arbitrary<unknown>> = {};
  const zeros: Array<() => [string, unknown]> = [];
  const lengthOf: Array<[string, string]> = [];
  if (asElement) {
    fields.push({ kind: 'scalar', key: 'tag', name: 'tag', since: 0, element: { kind: 'scalar', type: 'uint8' } });
    arbs.tag = scalarArb('uint8');
    zeros.push(() => ['tag', 0]);
  }
  const addFields = (list: FieldShape[], prefix: string): void => {
    list.forEach((fs, i) => {
      const key = `${prefix}${i}`;
      const elementOf = (e: ElementShape, label: string): { element: VmStateElement<unknown>; arb: fc.Arbitrary<unknown>; zero: () => unknown } => {
        if (e.t === 'scalar') return { element: { kind: 'scalar', type: e.type }, arb: scalarArb(e.type), zero: () => scalarZero(e.type) };
        const nested = build(e.desc, `${name}.${label}x`, true);
        return { element: { kind: 'struct', description: nested.description as VmStateDescription<unknown> }, arb: nested.values, zero: nested.zero };
      };
      switch (fs.t) {
        case 'scalar':
          fields.push({ kind: 'scalar', key, name: key, since: 0, element: { kind: 'scalar', type: fs.type } });
          arbs[key] = scalarArb(fs.type);
          zeros.push(() => [key, scalarZero(fs.type)]);
          return;
        case 'buffer':
          fields.push({ kind: 'buffer', key, name: key, since: 0, size: fs.size });
          arbs[key] = fc.uint8Array({ minLength: fs.size, maxLength: fs.size }).map((a) => Buffer.from(a));
          zeros.push(() => [key, Buffer.alloc(fs.size)]);
          return;
        case 'unused':
          fields.push({ kind: 'unused', name: 'unused', since: 0, size: fs.size });
          return;
        case 'vbuffer':
          fields.push({ kind: 'scalar', key: `${key}n`, name: `${key}n`, since: 0, element: { kind: 'scalar', type: fs.lengthType } });
          fields.push({ kind: 'vbuffer', key, name: key, since: 0, lengthFrom: `${key}n`, maxLength: fs.max });
          arbs[key] = fc.uint8Array({ maxLength: fs.max }).map((a) => Buffer.from(a));
          lengthOf.push([`${key}n`, key]);
          zeros.push(() => [key, Buffer.alloc(0)], () => [`${key}n`, 0]);
          return;
        case 'array': {
          const { element, arb, zero } = elementOf(fs.element, key);
          fields.push({ kind: 'array', key, name: key, since: 0, element, length: fs.length });
          arbs[key] = fc.array(arb, { minLength: fs.length, maxLength: fs.length });
          zeros.push(() => [key, Array.from({ length: fs.length }, zero)]);
          return;
        }
        case 'varray': {
          const { element, arb } = elementOf(fs.element, key);
          fields.push({ kind: 'scalar', key: `${key}n`, name: `${key}n`, since: 0, element: { kind: 'scalar', type: fs.lengthType } });
          fields.push({ kind: 'varray', key, name: key, since: 0, element, lengthFrom: `${key}n`, maxLength: fs.max });
          arbs[key] = fc.array(arb, { maxLength: fs.max });
          lengthOf.push([`${key}n`, key]);
          zeros.push(() => [key, []], () => [`${key}n`, 0]);
          return;
        }
        case 'struct': {
          const nested = build(fs.desc, `${name}.${key}x`);
          fields.push({ kind: 'struct', key, name: key, since: 0, description: nested.description as VmStateDescription<unknown> });
          arbs[key] = nested.values;
          zeros.push(() => [key, nested.zero()]);
          return;
        }
      }
    });
  };
  addFields(shape.fields, keyPrefix);
  const subsections: VmStateSubsection<State>[] = shape.subsections.map((sub, j) => {
    const start = fields.length;
    addFields(sub.fields, `${keyPrefix}s${j}_`);
    const subFields = fields.splice(start);
    return { name: `${name}/s${j}`, version: 1 + (j % 2), fields: subFields, needed: () => sub.sent };
  });
  const zero = (): State => Object.fromEntries(zeros.map((z) => z()));
  const description = defineVmState<State>({ name, version: 1 + (serial++ % 3), fields, subsections, create: zero });
  const values = fc.record(arbs).map((v) => {
    const state: State = { ...v };
    for (const [lengthKey, key] of lengthOf) state[lengthKey] = (state[key] as { length: number }).length;
    return state;
  });
  return { description, values, zero };
}

/** What the destination should hold: the source's values, except where a subsection was not sent. */
function expectedAfterLoad(d: VmStateDescription<unknown>, src: State, dst: State): State {
  const out: State = { ...dst };
  const copyFields = (fields: readonly VmStateField<unknown>[]): void => {
    for (const field of fields) {
      if (field.kind === 'unused') continue;
      const value = src[field.key];
      if (field.kind === 'struct') {
        out[field.key] = expectedAfterLoad(field.description, value as State, dst[field.key] as State);
      } else if ((field.kind === 'array' || field.kind === 'varray') && field.element.kind === 'struct') {
        const e = field.element.description;
        const current = dst[field.key] as State[];
        out[field.key] = (value as State[]).map((item, i) => expectedAfterLoad(e, item, current[i] ?? (e.create?.() as State)));
      } else {
        out[field.key] = value;
      }
    }
  };
  copyFields(d.fields);
  for (const sub of d.subsections ?? []) if (sub.needed(src)) copyFields(sub.fields);
  return out;
}

const caseArb = descShapeArb.chain((shape) => {
  const built = build(shape, `dev${serial++}`);
  return fc.record({ built: fc.constant(built), src: built.values, dst: built.values });
});

function deepCopy<T>(v: T): T {
  if (Buffer.isBuffer(v)) return Buffer.from(v) as T;
  if (Array.isArray(v)) return v.map(deepCopy) as T;
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deepCopy(x)])) as T;
  return v;
}

async function save(d: Description, state: State): Promise<{ bytes: Buffer; vmdesc: Awaited<ReturnType<typeof saveVmState>> }> {
  const channel = new MemoryWriteChannel();
  const w = new QemuFileWriter(channel);
  const vmdesc = await saveVmState(w, d, state);
  await w.flush();
  return { bytes: channel.bytes(), vmdesc };
}

describe('declarative state properties', () => {
  test.prop([caseArb], { numRuns: 300 })('random descriptions with random values round-trip', async ({ built, src, dst }) => {
    const d = built.description;
    const { bytes } = await save(d, src);
    const expected = expectedAfterLoad(d as VmStateDescription<unknown>, src, dst);
    const r = readerOf(bytes);
    await loadVmState(r, d, dst, d.version);
    expect(r.offset).toBe(bytes.length);
    expect(dst).toEqual(expected);
  });

  test.prop([caseArb], { numRuns: 200 })('the vmdesc written lets the stream decoder read exactly the body', async ({ built, src }) => {
    const { bytes, vmdesc } = await save(built.description, src);
    const r = readerOf(bytes);
    await decodeStruct(r, vmdesc);
    expect(r.offset).toBe(bytes.length);
  });

  test.prop([caseArb, fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })], { numRuns: 300 })(
    'truncated or corrupted bodies give typed errors or a valid load, never a crash; a failed load changes nothing',
    async ({ built, src, dst }, cut, flips) => {
      const d = built.description;
      const { bytes } = await save(d, src);
      const corrupt = Buffer.from(bytes);
      if (corrupt.length > 0) for (const [at, value] of flips) corrupt[at % corrupt.length] = value;
      for (const body of [bytes.subarray(0, bytes.length === 0 ? 0 : cut % bytes.length), corrupt]) {
        const before = deepCopy(dst);
        try {
          await loadVmState(readerOf(body), d, dst, d.version);
        } catch (err) {
          expect(err).toBeInstanceOf(VmStateLoadError);
          expect(dst).toEqual(before);
        }
      }
    },
  );
});
