/**
 * A declarative description of device state: QEMU's `VMStateDescription` in TypeScript
 * terms. Registering one (see `registerVmState`) gives a non-live entry that saves and
 * loads exactly QEMU's bytes and describes itself in the vmdesc JSON.
 */
import type { MaybePromise } from '../handlers.js';
import { VmStateDefinitionError } from './errors.js';
import type { VmStateElement, VmStateField } from './fields.js';

/**
 * The layout of one state object `S`, with its version rules and hooks. Hooks get the
 * state object itself; any of them may be async; a throw fails the save or the load.
 */
export interface VmStateDescription<S> {
  /** The description's name (QEMU `name`; the vmdesc `vmsd_name`; the default idstr). */
  readonly name: string;
  /** The version written and the newest accepted (QEMU `version_id`). */
  readonly version: number;
  /** The oldest version accepted on load (QEMU `minimum_version_id`; default 0). */
  readonly minimumVersion?: number;
  /** The fields, in stream order. */
  readonly fields: readonly VmStateField<S>[];
  /** Optional parts sent after the fields when their `needed` says so. */
  readonly subsections?: readonly VmStateSubsection<S>[];
  /** Makes a fresh state object (needed when this description is an array element type). */
  create?(): S;
  /** QEMU `pre_save`: runs before the fields are written (e.g. to compute a length field). */
  preSave?(state: S): MaybePromise<void>;
  /** QEMU `post_save`: runs after the fields and subsections are written, even when writing failed. */
  postSave?(state: S): MaybePromise<void>;
  /** QEMU `pre_load`: runs before the loaded values are applied. */
  preLoad?(state: S): MaybePromise<void>;
  /** QEMU `post_load`: runs after the fields and subsections were applied, with the stream's version. */
  postLoad?(state: S, versionId: number): MaybePromise<void>;
}

/**
 * An optional part of a description (QEMU subsection): its name is `<parent>/<part>`;
 * it is sent only when `needed` returns true, and describes the same state object as its
 * parent.
 */
export interface VmStateSubsection<S> extends VmStateDescription<S> {
  /** QEMU `needed`: whether to send this subsection for the current state. */
  needed(state: S): boolean;
}

/** The largest buffer size, length or count a description may declare. */
export const MAX_VMSTATE_LENGTH = 2 ** 31 - 1;

const validated = new WeakSet<object>();

function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

function isLength(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_VMSTATE_LENGTH;
}

/**
 * Checks a description (and every nested description and subsection) once, and returns
 * it unchanged. Registration calls it; call it yourself to fail early, at module load.
 * @throws VmStateDefinitionError naming the description and what is wrong
 */
export function defineVmState<S>(description: VmStateDescription<S>): VmStateDescription<S> {
  check(description as VmStateDescription<unknown>, []);
  return description;
}

function check(d: VmStateDescription<unknown>, visiting: readonly object[]): void {
  if (validated.has(d)) return;
  const name = typeof d.name === 'string' ? d.name : String(d.name);
  const fail = (detail: string): never => {
    throw new VmStateDefinitionError(name, detail);
  };
  if (visiting.includes(d)) fail('contains itself');
  if (name.length === 0) fail('the name must not be empty');
  if (Buffer.byteLength(name, 'utf8') > 255) fail('the name is longer than 255 bytes');
  if (!isU32(d.version)) fail(`version ${d.version} is not a u32`);
  const minimum = d.minimumVersion ?? 0;
  if (!isU32(minimum)) fail(`minimum version ${minimum} is not a u32`);
  if (minimum > d.version) fail(`minimum version ${minimum} is above version ${d.version}`);
  if (!Array.isArray(d.fields)) fail('fields must be an array');
  const inner = [...visiting, d];
  const seen = new Map<string, VmStateField<unknown>>();
  for (const field of d.fields) {
    checkField(d, field, seen, fail, inner);
    if (field.kind !== 'unused') {
      if (seen.has(field.key)) fail(`two fields use the state property "${field.key}"`);
      seen.set(field.key, field);
    }
  }
  const subNames = new Set<string>();
  for (const sub of d.subsections ?? []) {
    if (typeof sub.needed !== 'function') fail(`subsection ${sub.name} has no needed() predicate`);
    if (typeof sub.name !== 'string' || !sub.name.startsWith(`${name}/`) || sub.name.length === name.length + 1) {
      fail(`subsection name "${sub.name}" must be "${name}/<part>"`);
    }
    if (subNames.has(sub.name)) fail(`subsection ${sub.name} is listed twice`);
    subNames.add(sub.name);
    check(sub as VmStateDescription<unknown>, inner);
  }
  validated.add(d);
}

function checkField(
  d: VmStateDescription<unknown>,
  field: VmStateField<unknown>,
  earlier: ReadonlyMap<string, VmStateField<unknown>>,
  fail: (detail: string) => never,
  visiting: readonly object[],
): void {
  const label = `field ${field.name}`;
  if (typeof field.name !== 'string' || field.name.length === 0) fail('a field has no name');
  if (!isU32(field.since)) fail(`${label}: since ${field.since} is not a u32`);
  if (field.since > d.version) fail(`${label}: since version ${field.since} is above the description's version ${d.version}`);
  switch (field.kind) {
    case 'scalar':
      return;
    case 'buffer':
    case 'unused':
      if (!isLength(field.size)) fail(`${label}: size ${field.size} is not between 0 and ${MAX_VMSTATE_LENGTH}`);
      return;
    case 'struct':
      check(field.description, visiting);
      return;
    case 'array':
      if (!isLength(field.length)) fail(`${label}: length ${field.length} is not between 0 and ${MAX_VMSTATE_LENGTH}`);
      checkElement(field.element, label, fail, visiting);
      return;
    case 'vbuffer':
    case 'varray': {
      if (!isLength(field.maxLength)) fail(`${label}: maxLength ${field.maxLength} is not between 0 and ${MAX_VMSTATE_LENGTH}`);
      const source = earlier.get(field.lengthFrom);
      if (source === undefined) fail(`${label}: its length field "${field.lengthFrom}" must be declared before it`);
      if (source.kind !== 'scalar' || source.element.type === 'bool' || source.element.type.endsWith('64')) {
        fail(`${label}: its length field "${field.lengthFrom}" must be an 8-, 16- or 32-bit integer`);
      }
      if (source.since > field.since) fail(`${label}: its length field "${field.lengthFrom}" appears in a later version than it`);
      if (field.kind === 'varray') checkElement(field.element, label, fail, visiting);
      return;
    }
    default:
      fail(`${label}: unknown kind`);
  }
}

function checkElement(
  element: VmStateElement<unknown>,
  label: string,
  fail: (detail: string) => never,
  visiting: readonly object[],
): void {
  if (element.kind === 'scalar') return;
  check(element.description, visiting);
  if (typeof element.description.create !== 'function') {
    fail(`${label}: array elements of ${element.description.name} need a create() in that description`);
  }
}
