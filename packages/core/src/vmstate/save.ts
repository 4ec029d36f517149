/**
 * Writing a state object as QEMU's `vmstate_save_state` does: pre-save hook, the fields
 * in order (big-endian scalars, raw buffers, nested descriptions, arrays), then each
 * subsection whose `needed` is true (0x05, u8 name length, name, be32 version, its body),
 * then post-save. The vmdesc description of exactly what was written is returned, with
 * the sizes measured from the stream.
 */
import { RecordType, type QemuFileWriter, type VmdescField, type VmdescStruct } from '@savevm/stream';
import type { VmStateDescription } from './description.js';
import { VmStateSaveError } from './errors.js';
import type { VmStateElement, VmStateField } from './fields.js';
import { putScalar, scalarProblem } from './scalars.js';
import { canCompress, vmdescFieldNames, vmdescType } from './vmdesc-shape.js';

type StateRecord = Record<string, unknown>;

/**
 * Writes `state` laid out by `description` (the body of a FULL section, or of anything
 * else that carries a vmstate) and returns its vmdesc description.
 * @throws VmStateSaveError when a value does not fit its field or a hook throws
 */
export async function saveVmState<S>(f: QemuFileWriter, description: VmStateDescription<S>, state: S): Promise<VmdescStruct> {
  return saveStruct(f, description as VmStateDescription<unknown>, state as StateRecord, description.name);
}

async function runHook(path: string, hook: string, call: () => unknown): Promise<void> {
  try {
    await call();
  } catch (err) {
    throw new VmStateSaveError(path, undefined, `${hook} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

async function saveStruct(f: QemuFileWriter, d: VmStateDescription<unknown>, state: StateRecord, path: string): Promise<VmdescStruct> {
  if (d.preSave) await runHook(path, 'preSave', () => d.preSave?.(state));
  try {
    const names = vmdescFieldNames(d);
    const fields: VmdescField[] = [];
    for (let i = 0; i < d.fields.length; i++) {
      await saveField(f, d.fields[i] as VmStateField<unknown>, names[i] as string, state, path, fields);
    }
    const subsections: VmdescStruct[] = [];
    for (const sub of d.subsections ?? []) {
      if (!neededNow(sub, state, path)) continue;
      f.putU8(RecordType.SUBSECTION);
      f.putCountedString(sub.name);
      f.putBe32(sub.version);
      subsections.push(await saveStruct(f, sub, state, sub.name));
    }
    return { vmsd_name: d.name, version: d.version, fields, ...(subsections.length > 0 ? { subsections } : {}) };
  } finally {
    if (d.postSave) await runHook(path, 'postSave', () => d.postSave?.(state));
  }
}

function neededNow(sub: { name: string; needed(state: unknown): boolean }, state: StateRecord, path: string): boolean {
  try {
    return sub.needed(state);
  } catch (err) {
    throw new VmStateSaveError(path, undefined, `needed() of ${sub.name} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

async function saveField(
  f: QemuFileWriter,
  field: VmStateField<unknown>,
  name: string,
  state: StateRecord,
  path: string,
  out: VmdescField[],
): Promise<void> {
  const fail = (detail: string): never => {
    throw new VmStateSaveError(path, field.name, detail);
  };
  const type = vmdescType(field);
  const start = f.bytesWritten;
  switch (field.kind) {
    case 'scalar': {
      const value = state[field.key];
      const problem = scalarProblem(field.element.type, value);
      if (problem) fail(problem);
      putScalar(f, field.element.type, value);
      break;
    }
    case 'buffer':
      putBytes(f, bytesOf(state[field.key], field.size, fail));
      break;
    case 'vbuffer': {
      const length = lengthOf(state, field.lengthFrom, field.maxLength, fail);
      putBytes(f, bytesOf(state[field.key], length, fail));
      break;
    }
    case 'unused':
      f.putBuffer(new Uint8Array(field.size));
      break;
    case 'struct': {
      const target = state[field.key];
      if (typeof target !== 'object' || target === null) fail(`expected an object for ${field.description.name}`);
      const struct = await saveStruct(f, field.description, target as StateRecord, `${path}.${field.name}`);
      out.push({ name, type, struct, size: f.bytesWritten - start });
      return;
    }
    case 'array':
    case 'varray': {
      const count = field.kind === 'array' ? field.length : lengthOf(state, field.lengthFrom, field.maxLength, fail);
      const items = state[field.key];
      if (!Array.isArray(items)) fail('expected an array');
      const list = items as unknown[];
      if (list.length !== count) fail(`the array has ${list.length} elements; the description says ${count}`);
      await saveArray(f, field.element, list, name, type, `${path}.${field.name}`, out, fail);
      return;
    }
  }
  out.push({ name, type, size: f.bytesWritten - start });
}

async function saveArray(
  f: QemuFileWriter,
  element: VmStateElement<unknown>,
  items: readonly unknown[],
  name: string,
  type: string,
  path: string,
  out: VmdescField[],
  fail: (detail: string) => never,
): Promise<void> {
  const n = items.length;
  const compress = canCompress(element);
  for (let i = 0; i < n; i++) {
    const start = f.bytesWritten;
    const item = items[i];
    let struct: VmdescStruct | undefined;
    if (element.kind === 'scalar') {
      const problem = scalarProblem(element.type, item);
      if (problem) fail(`element ${i}: ${problem}`);
      putScalar(f, element.type, item);
    } else {
      if (typeof item !== 'object' || item === null) fail(`element ${i}: expected an object for ${element.description.name}`);
      struct = await saveStruct(f, element.description, item as StateRecord, `${path}[${i}]`);
    }
    // QEMU: one entry with array_len for a compressible array (sized by its first element),
    // else one entry per element with its index; a single element is a plain entry.
    if (compress && i > 0) continue;
    const position = n > 1 ? (compress ? { array_len: n } : { index: i }) : {};
    out.push({ name, ...position, type, ...(struct ? { struct } : {}), size: f.bytesWritten - start });
  }
}

function lengthOf(state: StateRecord, key: string, max: number, fail: (detail: string) => never): number {
  const length = state[key];
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) fail(`its length field "${key}" holds ${String(length)}`);
  if ((length as number) > max) fail(`its length field "${key}" holds ${String(length)}, above the maximum ${max}`);
  return length as number;
}

function bytesOf(value: unknown, size: number, fail: (detail: string) => never): Uint8Array {
  if (!(value instanceof Uint8Array)) fail('expected a Uint8Array');
  const bytes = value as Uint8Array;
  if (bytes.length !== size) fail(`the buffer has ${bytes.length} bytes; the description says ${size}`);
  return bytes;
}

function putBytes(f: QemuFileWriter, bytes: Uint8Array): void {
  // 'copy': later state changes cannot alter what was put (no copy when the channel takes it at once).
  f.putBuffer(bytes, 'copy');
}
