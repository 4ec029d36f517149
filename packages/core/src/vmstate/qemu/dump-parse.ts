/**
 * Reading a `-dump-vmstate` document into {@link QemuVmstateDump}: every device type, every
 * description with its fields (name, version, `field_exists`, size, `num`, nested
 * description) and subsections, checked to be shaped as QEMU writes them (see
 * `docs/design/qemu-vmstate.md`, "What the dump says").
 */
import type { QemuDumpDescription, QemuDumpDevice, QemuDumpField, QemuVmstateDump } from './dump-model.js';
import { QemuVmstateDumpError } from './errors.js';

type Json = Record<string, unknown>;

/** The entry naming the machine the dump was taken with (its `Name`), not a device. */
const MACHINE_KEY = 'vmschkmachine';

/** How deep descriptions may nest in a dump (QEMU's nest a handful of levels). */
const MAX_DEPTH = 64;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(path: string, detail: string): never {
  throw new QemuVmstateDumpError(path, detail);
}

function integer(o: Json, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${path}.${key}`, `expected a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

function text(o: Json, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0) fail(`${path}.${key}`, `expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function parseField(o: unknown, path: string, depth: number): QemuDumpField {
  if (!isObject(o)) fail(path, 'expected a field object');
  const exists = o.field_exists;
  if (typeof exists !== 'boolean') fail(`${path}.field_exists`, `expected true or false, got ${JSON.stringify(exists)}`);
  const field: { -readonly [K in keyof QemuDumpField]: QemuDumpField[K] } = {
    name: text(o, 'field', path),
    since: integer(o, 'version_id', path),
    conditional: exists,
    size: integer(o, 'size', path),
  };
  if (o.num !== undefined) field.count = integer(o, 'num', path);
  if (o.Description !== undefined) field.description = parseDescription(o.Description, `${path}.Description`, depth + 1);
  return field;
}

function parseDescription(o: unknown, path: string, depth: number): QemuDumpDescription {
  if (depth > MAX_DEPTH) fail(path, `descriptions nested deeper than ${MAX_DEPTH}`);
  if (!isObject(o)) fail(path, 'expected a description object');
  const name = text(o, 'name', path);
  const version = integer(o, 'version_id', path);
  const minimumVersion = integer(o, 'minimum_version_id', path);
  const list = (key: string): unknown[] => {
    const v = o[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) fail(`${path}.${key}`, 'expected an array');
    return v;
  };
  const fields = list('Fields').map((f, i) => parseField(f, `${path}.Fields[${i}]`, depth));
  const subsections = list('Subsections').map((s, i) => parseDescription(s, `${path}.Subsections[${i}]`, depth + 1));
  return { name, version, minimumVersion, fields, subsections };
}

/** Collects every description reachable from `d` by name, one entry per distinct variant. */
class DescriptionIndex {
  readonly byName = new Map<string, QemuDumpDescription[]>();
  private readonly shapes = new Map<string, Set<string>>();

  add(d: QemuDumpDescription): void {
    const shape = JSON.stringify(d);
    let seen = this.shapes.get(d.name);
    if (seen === undefined) {
      seen = new Set();
      this.shapes.set(d.name, seen);
      this.byName.set(d.name, []);
    }
    if (!seen.has(shape)) {
      seen.add(shape);
      this.byName.get(d.name)?.push(d);
    }
    for (const f of d.fields) if (f.description) this.add(f.description);
    for (const s of d.subsections) this.add(s);
  }
}

/**
 * Reads a `-dump-vmstate` document (its JSON text, or the value `JSON.parse` gave).
 * @throws QemuVmstateDumpError naming the JSON path of the first thing not shaped as QEMU writes it
 */
export function parseQemuVmstateDump(input: string | unknown): QemuVmstateDump {
  let doc: unknown = input;
  if (typeof input === 'string') {
    try {
      doc = JSON.parse(input);
    } catch (err) {
      fail('(document)', `not JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (!isObject(doc)) fail('(document)', 'expected an object of device types');
  const devices = new Map<string, QemuDumpDevice>();
  const index = new DescriptionIndex();
  let machine: string | undefined;
  for (const [type, entry] of Object.entries(doc)) {
    if (!isObject(entry)) fail(type, 'expected a device object');
    const name = text(entry, 'Name', type);
    if (type === MACHINE_KEY) {
      machine = name;
      continue;
    }
    if (name !== type) fail(`${type}.Name`, `"${name}" differs from its key`);
    if (entry.Description === undefined) {
      devices.set(type, { type });
      continue;
    }
    const description = parseDescription(entry.Description, `${type}.Description`, 0);
    devices.set(type, { type, description });
    index.add(description);
  }
  return { ...(machine === undefined ? {} : { machine }), devices, descriptions: index.byName };
}
