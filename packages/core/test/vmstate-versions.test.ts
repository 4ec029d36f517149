/**
 * QEMU's version and subsection rules for declarative state, directly and through the
 * migration drivers: older versions load with later fields at their defaults; versions
 * below the minimum or above the local one are refused; unsent subsections are skipped;
 * an unknown subsection is refused; lengths are checked before allocating; a failed load
 * leaves the state untouched.
 */
import { MemoryWriteChannel, QemuFileWriter, StreamError } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import {
  MigrationError,
  RunState,
  VmStateLoadError,
  createQemuGlobalState,
  defineVmState,
  loadVmState,
  qemuGlobalStateVmState,
  registerVmState,
  saveVmState,
  vmstateFields,
  type VmStateDescription,
  type VmStateLoadReason,
} from '../src/index.js';
import { decodeVmState } from '../src/vmstate/decode.js';
import { World, readerOf, saveToMemory } from './helpers/world.js';

interface Regs {
  ctrl: number;
  status: number;
  /** Added in version 2. */
  irqMask: number;
  /** Sent in subsection `regs/dma` when nonzero. */
  dmaAddr: bigint;
  /** Sent in subsection `regs/debug` when set. */
  debug: boolean;
}

const f = vmstateFields<Regs>();
const dma = { name: 'regs/dma', version: 1, fields: [f.uint64('dmaAddr')], needed: (s: Regs) => s.dmaAddr !== 0n };
const debug = { name: 'regs/debug', version: 2, minimumVersion: 2, fields: [f.bool('debug')], needed: (s: Regs) => s.debug };
const regsV1 = defineVmState<Regs>({ name: 'regs', version: 1, fields: [f.uint32('ctrl'), f.uint32('status')] });
const regsV2 = defineVmState<Regs>({
  name: 'regs',
  version: 2,
  minimumVersion: 1,
  fields: [f.uint32('ctrl'), f.uint32('status'), f.uint16('irqMask', { since: 2 })],
  subsections: [dma, debug],
});
const regsV3Min3 = defineVmState<Regs>({ ...regsV2, version: 3, minimumVersion: 3 });
const regsNoSubsections = defineVmState<Regs>({ ...regsV2, subsections: [] });

const defaults = (): Regs => ({ ctrl: 0, status: 0, irqMask: 0xffff, dmaAddr: 0n, debug: false });
const values = (): Regs => ({ ctrl: 0x11, status: 0x22, irqMask: 0x33, dmaAddr: 0x4000n, debug: true });

async function bodyOf(d: VmStateDescription<Regs>, s: Regs): Promise<Buffer> {
  const channel = new MemoryWriteChannel();
  const w = new QemuFileWriter(channel);
  await saveVmState(w, d, s);
  await w.flush();
  return channel.bytes();
}

async function loadError<S>(bytes: Buffer, d: VmStateDescription<S>, state: S, version: number): Promise<VmStateLoadError> {
  const err = await loadVmState(readerOf(bytes), d, state, version).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VmStateLoadError);
  return err as VmStateLoadError;
}

function expectReason(err: VmStateLoadError, reason: VmStateLoadReason, fields: Partial<VmStateLoadError> = {}): void {
  expect(err.reason).toBe(reason);
  expect(err).toMatchObject(fields);
}

describe('versions', () => {
  it('a version-1 body loads into the version-2 description; the field added in 2 keeps its default', async () => {
    const state = defaults();
    await loadVmState(readerOf(await bodyOf(regsV1, values())), regsV2, state, 1);
    expect(state).toEqual({ ...defaults(), ctrl: 0x11, status: 0x22 });
  });

  it('post-load is told the stream\'s version', async () => {
    const seen: number[] = [];
    const d = defineVmState<Regs>({ ...regsV2, postLoad: (_s, v) => void seen.push(v) });
    await loadVmState(readerOf(await bodyOf(regsV1, values())), d, defaults(), 1);
    expect(seen).toEqual([1]);
  });

  it('a version above the local one is refused, naming both', async () => {
    const err = await loadError(await bodyOf(regsV2, values()), regsV2, defaults(), 3);
    expectReason(err, 'VERSION_TOO_NEW', { description: 'regs', streamVersion: 3, localVersion: 2, code: 'UNSUPPORTED_VERSION' });
    expect(err.message).toContain('incoming version 3 is newer than the local version 2');
  });

  it('a version below the minimum is refused, naming both', async () => {
    const err = await loadError(await bodyOf(regsV2, values()), regsV3Min3, defaults(), 2);
    expectReason(err, 'VERSION_TOO_OLD', { streamVersion: 2, minimumVersion: 3, localVersion: 3 });
    expect(err.message).toContain('older than the local minimum version 3');
  });

  it('through the drivers: a v1 source migrates into a v2 destination; a v2 source into a v1 destination is refused', async () => {
    const src = new World(RunState.RUNNING);
    registerVmState(src.registry, regsV1, values());
    const dst = new World(RunState.INMIGRATE);
    const loaded = defaults();
    registerVmState(dst.registry, regsV2, loaded);
    const { bytes } = await saveToMemory(src);
    await dst.destination.load(readerOf(bytes), { machine: 'none' });
    expect(loaded).toEqual({ ...defaults(), ctrl: 0x11, status: 0x22 });

    const newer = new World(RunState.RUNNING);
    registerVmState(newer.registry, regsV2, values());
    const older = new World(RunState.INMIGRATE);
    registerVmState(older.registry, regsV1, defaults());
    const err = await older.destination.load(readerOf((await saveToMemory(newer)).bytes), { machine: 'none' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).message).toMatch(/regs/);
    expect((err as MigrationError).message).toMatch(/2/);
  });
});

describe('subsections', () => {
  it('are sent only when needed; unsent ones leave the state alone', async () => {
    const none = await bodyOf(regsV2, { ...values(), dmaAddr: 0n, debug: false });
    expect(none.length).toBe(10);
    const state = { ...defaults(), dmaAddr: 0x99n, debug: true };
    await loadVmState(readerOf(none), regsV2, state, 2);
    expect(state).toEqual({ ctrl: 0x11, status: 0x22, irqMask: 0x33, dmaAddr: 0x99n, debug: true });
  });

  it('are written as 0x05, name length, "parent/sub", be32 version, fields', async () => {
    const both = await bodyOf(regsV2, values());
    const dmaHeader = Buffer.concat([Buffer.of(5, 8), Buffer.from('regs/dma'), Buffer.from('00000001', 'hex')]);
    const debugHeader = Buffer.concat([Buffer.of(5, 10), Buffer.from('regs/debug'), Buffer.from('00000002', 'hex')]);
    expect(both.subarray(10)).toEqual(Buffer.concat([dmaHeader, Buffer.from('0000000000004000', 'hex'), debugHeader, Buffer.of(1)]));
    const state = defaults();
    await loadVmState(readerOf(both), regsV2, state, 2);
    expect(state).toEqual(values());
  });

  it('an unknown subsection is refused, naming it and the known ones', async () => {
    const err = await loadError(await bodyOf(regsV2, values()), regsNoSubsections, defaults(), 2);
    expectReason(err, 'UNKNOWN_SUBSECTION', { description: 'regs', offset: 10 });
    expect(err.message).toContain('unknown subsection "regs/dma" (known: none)');
  });

  it('a subsection whose version is too new is refused, naming the subsection', async () => {
    const bytes = await bodyOf(regsV2, { ...values(), dmaAddr: 0n });
    bytes.writeUInt32BE(9, 10 + 2 + 'regs/debug'.length);
    const err = await loadError(bytes, regsV2, defaults(), 2);
    expectReason(err, 'VERSION_TOO_NEW', { description: 'regs/debug', streamVersion: 9, localVersion: 2 });
  });

  it('a subsection of the enclosing description after a nested one is left to the enclosing one (QEMU\'s prefix rule)', async () => {
    interface Inner {
      a: number;
      b: number;
    }
    interface Outer {
      inner: Inner;
      c: number;
    }
    const i = vmstateFields<Inner>();
    const o = vmstateFields<Outer>();
    const inner = defineVmState<Inner>({ name: 'inner', version: 1, fields: [i.uint8('a')], subsections: [{ name: 'inner/b', version: 1, fields: [i.uint8('b')], needed: () => true }] });
    const outer = defineVmState<Outer>({ name: 'outer', version: 1, fields: [o.struct('inner', inner)], subsections: [{ name: 'outer/c', version: 1, fields: [o.uint8('c')], needed: () => true }] });
    const channel = new MemoryWriteChannel();
    const w = new QemuFileWriter(channel);
    await saveVmState(w, outer, { inner: { a: 1, b: 2 }, c: 3 });
    await w.flush();
    const loaded: Outer = { inner: { a: 0, b: 0 }, c: 0 };
    await loadVmState(readerOf(channel.bytes()), outer, loaded, 1);
    expect(loaded).toEqual({ inner: { a: 1, b: 2 }, c: 3 });
  });
});

describe('untrusted lengths and broken bodies', () => {
  interface Blob {
    len: number;
    data: Uint8Array;
  }
  const b = vmstateFields<Blob>();
  const blob = defineVmState<Blob>({ name: 'blob', version: 1, fields: [b.uint32('len'), b.vbuffer('data', 'len', 64)] });
  const huge = defineVmState<Blob>({ name: 'blob', version: 1, fields: [b.uint32('len'), b.vbuffer('data', 'len', 2 ** 31 - 1)] });

  it('a length above the declared maximum is refused before anything is read or allocated', async () => {
    const state: Blob = { len: 0, data: Buffer.alloc(0) };
    const err = await loadError(Buffer.from('ffffffff', 'hex'), blob, state, 1);
    expectReason(err, 'LENGTH_TOO_LARGE', { description: 'blob', field: 'data', code: 'TOO_LARGE', offset: 4 });
    expect(err.message).toContain('says 4294967295, above the maximum 64');
    expect(state).toEqual({ len: 0, data: Buffer.alloc(0) });
  });

  it('a 2 GiB length allowed by the description but not backed by bytes fails as truncated, without allocating it', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const err = await loadError(Buffer.from('7fffffff0102', 'hex'), huge, { len: 0, data: Buffer.alloc(0) }, 1);
    expectReason(err, 'TRUNCATED', { field: 'data', code: 'TRUNCATED' });
    expect(err.cause).toBeInstanceOf(StreamError);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('a truncated body is a typed error naming the field, and leaves the state untouched', async () => {
    const bytes = await bodyOf(regsV2, values());
    const state = defaults();
    const err = await loadError(bytes.subarray(0, 6), regsV2, state, 2);
    expectReason(err, 'TRUNCATED', { description: 'regs', field: 'status', offset: 6 });
    expect(state).toEqual(defaults());
  });

  it('a declined subsection header stays in the stream for the next field, as QEMU\'s peek leaves it', async () => {
    interface Inner {
      a: number;
    }
    interface Outer {
      inner: Inner;
      z: number;
    }
    const inner = defineVmState<Inner>({ name: 'inner', version: 1, fields: [vmstateFields<Inner>().uint8('a')] });
    const o = vmstateFields<Outer>();
    const outer = defineVmState<Outer>({ name: 'outer', version: 1, fields: [o.struct('inner', inner), o.uint8('z')] });
    // inner.a = 1; then 05 07 "o/x": a header cut short (7 name bytes announced, 3 there)
    // is no subsection, exactly as QEMU's peek sees it, so z reads the 0x05 and the rest
    // stays in the stream for the caller (where the section footer check refuses it).
    const r0 = readerOf(Buffer.concat([Buffer.of(1, 5, 7), Buffer.from('o/x')]));
    const decoded = await decodeVmState(r0, outer as never, 1);
    expect(decoded.values.get('z')).toBe(5);
    expect(r0.offset).toBe(2);
    // With the header's bytes exactly consumed by fields, the load is QEMU's.
    interface Wide {
      inner: Inner;
      z: number;
      rest: Uint8Array;
    }
    const w = vmstateFields<Wide>();
    const wide = defineVmState<Wide>({ name: 'outer', version: 1, fields: [w.struct('inner', inner), w.uint8('z'), w.buffer('rest', 4)] });
    const state: Wide = { inner: { a: 0 }, z: 0, rest: Buffer.alloc(4) };
    const r = readerOf(Buffer.concat([Buffer.of(1, 5, 3), Buffer.from('o/x')]));
    await loadVmState(r, wide, state, 1);
    expect(state).toEqual({ inner: { a: 1 }, z: 5, rest: Buffer.from('\x03o/x', 'latin1') });
    expect(r.offset).toBe(6);
  });

  it('the destination driver reports a post-load refusal as a load-state MigrationError with the vmstate cause', async () => {
    const src = new World(RunState.RUNNING);
    const bad = createQemuGlobalState(RunState.RUNNING);
    bad.runstate.fill(0).set(Buffer.from('bogus'));
    registerVmState(src.registry, qemuGlobalStateVmState, bad);
    const dst = new World(RunState.INMIGRATE);
    const target = createQemuGlobalState(RunState.PRELAUNCH);
    registerVmState(dst.registry, qemuGlobalStateVmState, target);
    const err = await dst.destination.load(readerOf((await saveToMemory(src)).bytes), { machine: 'none' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    const m = err as MigrationError;
    expect(m.phase).toBe('load-state');
    expect(m.entry).toEqual({ idstr: 'globalstate', instanceId: 0 });
    expect(m.cause).toBeInstanceOf(VmStateLoadError);
    expect((m.cause as VmStateLoadError).reason).toBe('HOOK_FAILED');
    expect(m.message).toContain('"bogus" is not a run state');
  });
});
