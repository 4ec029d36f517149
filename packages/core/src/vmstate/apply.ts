/**
 * Applying a decoded body to the state object, in QEMU's order: pre-load, the fields
 * (nested descriptions recursively), the subsections, post-load with the stream's
 * version. Fields the stream's version did not carry keep their current values.
 */
import type { VmStateDescription } from './description.js';
import type { DecodedVmState, DecodedVmStateValue } from './decode.js';
import { VmStateLoadError } from './errors.js';

type StateRecord = Record<string, unknown>;

/**
 * Applies `decoded` to `state`.
 * @param offset stream offset of the body's end, for errors
 * @throws VmStateLoadError when a hook throws or the state has no object to load a nested description into
 */
export async function applyVmState(decoded: DecodedVmState, state: object, offset: number): Promise<void> {
  await applyStruct(decoded, state as StateRecord, decoded.description.name, offset);
}

function hookFailure(path: string, hook: string, decoded: DecodedVmState, offset: number, err: unknown): VmStateLoadError {
  return new VmStateLoadError({
    reason: 'HOOK_FAILED',
    offset,
    description: path,
    streamVersion: decoded.version,
    localVersion: decoded.description.version,
    minimumVersion: decoded.description.minimumVersion ?? 0,
    detail: `${hook} failed: ${err instanceof Error ? err.message : String(err)}`,
    cause: err,
  });
}

async function applyStruct(decoded: DecodedVmState, state: StateRecord, path: string, offset: number): Promise<void> {
  const d = decoded.description;
  if (d.preLoad) {
    try {
      await d.preLoad(state);
    } catch (err) {
      throw hookFailure(path, 'preLoad', decoded, offset, err);
    }
  }
  for (const field of d.fields) {
    if (field.kind === 'unused') continue;
    const value = decoded.values.get(field.key);
    if (value === undefined) continue;
    const fieldPath = `${path}.${field.name}`;
    switch (field.kind) {
      case 'struct':
        state[field.key] = await applyNested(field.description, state[field.key], value as DecodedVmState, fieldPath, offset);
        break;
      case 'array':
      case 'varray':
        if (field.element.kind === 'scalar') {
          state[field.key] = value;
        } else {
          const description = field.element.description;
          const current = Array.isArray(state[field.key]) ? (state[field.key] as unknown[]) : [];
          const items = value as DecodedVmStateValue[];
          const next: unknown[] = [];
          for (let i = 0; i < items.length; i++) {
            next.push(await applyNested(description, current[i], items[i] as DecodedVmState, `${fieldPath}[${i}]`, offset));
          }
          state[field.key] = next;
        }
        break;
      default:
        state[field.key] = value;
    }
  }
  for (const sub of decoded.subsections) await applyStruct(sub, state, sub.description.name, offset);
  if (d.postLoad) {
    try {
      await d.postLoad(state, decoded.version);
    } catch (err) {
      throw hookFailure(path, 'postLoad', decoded, offset, err);
    }
  }
}

/** Loads into the existing object when there is one, else into a fresh one from `create()`. */
async function applyNested(
  description: VmStateDescription<unknown>,
  current: unknown,
  decoded: DecodedVmState,
  path: string,
  offset: number,
): Promise<object> {
  let target = current;
  if (typeof target !== 'object' || target === null) {
    if (typeof description.create !== 'function') {
      throw new VmStateLoadError({
        reason: 'NO_STATE_OBJECT',
        offset,
        description: path,
        detail: `the state holds no object to load ${description.name} into, and the description has no create()`,
      });
    }
    target = description.create();
  }
  await applyStruct(decoded, target as StateRecord, path, offset);
  return target as object;
}
