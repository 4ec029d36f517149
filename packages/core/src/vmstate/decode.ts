/**
 * Reading a vmstate body as QEMU's `vmstate_load_state` does, into a decoded tree that
 * is applied to the state only when the whole body was read (see `apply.ts`): the version
 * checks, the fields the stream's version carries, lengths checked against the
 * description's maximum before anything is allocated, then the subsections (the loader
 * looks at the next byte: 0x05 followed by a name starting with the description's name
 * is one of its subsections; anything else ends the body and stays in the stream).
 */
import { RecordType, StreamTruncatedError, type QemuFileReader } from '@savevm/stream';
import type { VmStateDescription, VmStateSubsection } from './description.js';
import { VmStateLoadError, type VmStateLoadErrorInit } from './errors.js';
import type { VmStateElement, VmStateField } from './fields.js';
import { scalarFrom, scalarSize } from './scalars.js';

/** A value read from the stream, not yet applied. */
export type DecodedVmStateValue = number | bigint | boolean | Buffer | DecodedVmState | DecodedVmStateValue[];

/** One description's worth of values read from the stream. */
export interface DecodedVmState {
  /** The description they belong to. */
  readonly description: VmStateDescription<unknown>;
  /** The version they were read with. */
  readonly version: number;
  /** Field key → value, for the fields the version carries. */
  readonly values: Map<string, DecodedVmStateValue>;
  /** Subsections in stream order. */
  readonly subsections: DecodedVmState[];
}

/** A subsection header seen ahead without consuming it: its name, offset and length (marker, length, name). */
interface SubsectionHeader {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
}

/** State shared by one body's decoding. */
class DecodeContext {
  /** @param r the stream */
  constructor(readonly r: QemuFileReader) {}

  fail(init: Omit<VmStateLoadErrorInit, 'offset'> & { offset?: number }): never {
    throw new VmStateLoadError({ offset: this.r.offset, ...init });
  }

  /** Runs a read, turning a truncation into a load error that names the field. */
  async read<T>(path: string, field: string, what: () => Promise<T>): Promise<T> {
    try {
      return await what();
    } catch (err) {
      if (err instanceof StreamTruncatedError) {
        this.fail({ reason: 'TRUNCATED', offset: err.offset, description: path, field, detail: 'the stream ended inside the field', cause: err });
      }
      throw err;
    }
  }
}

/**
 * Reads one body laid out by `description`, sent with `versionId`.
 * @throws VmStateLoadError for a version out of range, a length above its maximum, an
 *   unknown or misplaced subsection, or a truncated body
 */
export async function decodeVmState(
  r: QemuFileReader,
  description: VmStateDescription<unknown>,
  versionId: number,
): Promise<DecodedVmState> {
  const ctx = new DecodeContext(r);
  const decoded = await decodeStruct(ctx, description, versionId, description.name);
  const stray = await readSubsectionHeader(ctx);
  if (stray) {
    // QEMU would leave it and then miss the section footer; say what it is instead.
    ctx.fail({
      reason: 'UNKNOWN_SUBSECTION',
      offset: stray.offset,
      description: description.name,
      detail: `subsection "${stray.name}" does not belong to this description`,
    });
  }
  return decoded;
}

function checkVersion(ctx: DecodeContext, d: VmStateDescription<unknown>, version: number, path: string): void {
  const minimum = d.minimumVersion ?? 0;
  const versions = { description: path, streamVersion: version, localVersion: d.version, minimumVersion: minimum };
  if (version > d.version) {
    ctx.fail({ reason: 'VERSION_TOO_NEW', ...versions, detail: `incoming version ${version} is newer than the local version ${d.version}` });
  }
  if (version < minimum) {
    ctx.fail({ reason: 'VERSION_TOO_OLD', ...versions, detail: `incoming version ${version} is older than the local minimum version ${minimum}` });
  }
}

async function decodeStruct(ctx: DecodeContext, d: VmStateDescription<unknown>, version: number, path: string): Promise<DecodedVmState> {
  checkVersion(ctx, d, version, path);
  const values = new Map<string, DecodedVmStateValue>();
  for (const field of d.fields) {
    if (field.since > version) continue;
    const value = await decodeField(ctx, field, values, path);
    if (value !== undefined && field.kind !== 'unused') values.set(field.key, value);
  }
  return { description: d, version, values, subsections: await decodeSubsections(ctx, d, path) };
}

async function decodeField(
  ctx: DecodeContext,
  field: VmStateField<unknown>,
  values: ReadonlyMap<string, DecodedVmStateValue>,
  path: string,
): Promise<DecodedVmStateValue | undefined> {
  const r = ctx.r;
  switch (field.kind) {
    case 'scalar':
      return ctx.read(path, field.name, () => readScalar(r, field.element.type));
    case 'buffer':
      return ctx.read(path, field.name, () => r.getBytes(field.size, `${path}.${field.name}`));
    case 'unused':
      await ctx.read(path, field.name, () => r.skip(field.size, `${path}.${field.name}`));
      return undefined;
    case 'vbuffer': {
      const length = checkedLength(ctx, field.lengthFrom, field.maxLength, values, path, field.name);
      return ctx.read(path, field.name, () => r.getBytes(length, `${path}.${field.name}`));
    }
    case 'struct':
      return decodeStruct(ctx, field.description, field.description.version, `${path}.${field.name}`);
    case 'array':
    case 'varray': {
      const count = field.kind === 'array' ? field.length : checkedLength(ctx, field.lengthFrom, field.maxLength, values, path, field.name);
      const items: DecodedVmStateValue[] = [];
      for (let i = 0; i < count; i++) items.push(await decodeElement(ctx, field.element, `${path}.${field.name}`, i));
      return items;
    }
  }
}

async function readScalar(r: QemuFileReader, type: Parameters<typeof scalarSize>[0]): Promise<number | bigint | boolean> {
  const size = scalarSize(type);
  await r.ensure(size, type);
  return scalarFrom(r.takeView(size), type);
}

async function decodeElement(ctx: DecodeContext, element: VmStateElement<unknown>, path: string, i: number): Promise<DecodedVmStateValue> {
  if (element.kind === 'scalar') return ctx.read(path, `[${i}]`, () => readScalar(ctx.r, element.type));
  return decodeStruct(ctx, element.description, element.description.version, `${path}[${i}]`);
}

/** The length or count an earlier field gave, refused when above the description's maximum. */
function checkedLength(
  ctx: DecodeContext,
  key: string,
  max: number,
  values: ReadonlyMap<string, DecodedVmStateValue>,
  path: string,
  field: string,
): number {
  const length = values.get(key);
  if (typeof length !== 'number' || length < 0) {
    ctx.fail({ reason: 'LENGTH_TOO_LARGE', description: path, field, detail: `its length field "${key}" holds ${String(length)}` });
  }
  if (length > max) {
    ctx.fail({ reason: 'LENGTH_TOO_LARGE', description: path, field, detail: `its length field "${key}" says ${length}, above the maximum ${max}` });
  }
  return length;
}

async function decodeSubsections(ctx: DecodeContext, d: VmStateDescription<unknown>, path: string): Promise<DecodedVmState[]> {
  const out: DecodedVmState[] = [];
  for (;;) {
    const header = await readSubsectionHeader(ctx);
    if (header === undefined) return out;
    // QEMU: a name not starting with this description's name ends this body; the bytes
    // stay in the stream (an enclosing description's subsection, or whatever follows).
    if (header.name.length < d.name.length + 1 || !header.name.startsWith(d.name)) return out;
    const sub = d.subsections?.find((s: VmStateSubsection<unknown>) => s.name === header.name);
    if (sub === undefined) {
      ctx.fail({
        reason: 'UNKNOWN_SUBSECTION',
        offset: header.offset,
        description: path,
        detail: `unknown subsection "${header.name}" (known: ${(d.subsections ?? []).map((s) => s.name).join(', ') || 'none'})`,
      });
    }
    await ctx.r.skip(header.length, 'a subsection header');
    const version = await ctx.read(sub.name, 'version', () => ctx.r.getBe32('a subsection version'));
    out.push(await decodeStruct(ctx, sub, version, sub.name));
  }
}

/**
 * Looks at a subsection's marker, length and name without consuming them (QEMU peeks the
 * same way): undefined when the next byte is not 0x05 or the header is cut short by the
 * end of the data.
 */
async function readSubsectionHeader(ctx: DecodeContext): Promise<SubsectionHeader | undefined> {
  const r = ctx.r;
  const start = await r.peek(2);
  if (start.length < 2 || start[0] !== RecordType.SUBSECTION) return undefined;
  const length = 2 + (start[1] as number);
  const header = await r.peek(length);
  if (header.length < length) return undefined;
  return { name: header.toString('utf8', 2), offset: r.offset, length };
}
