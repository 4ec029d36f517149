/**
 * Turning QEMU's description of a section into an engine description for one FULL section.
 * The dump says which fields a description has, from which version, which are conditional,
 * how large each element is, what is nested and which subsections exist; the stream's own
 * vmdesc says what this very section carried (which conditional fields, how many
 * elements, which VMStateInfo). Each is checked against the other; the rules are in
 * `docs/design/qemu-vmstate.md` ("Dump and vmdesc together").
 */
import type { VmdescField, VmdescStruct } from '@savevm/stream';
import type { VmStateDescription, VmStateSubsection } from '../description.js';
import type { VmStateField } from '../fields.js';
import type { QemuDumpDescription, QemuDumpField } from './dump-model.js';
import { QemuLayoutError } from './errors.js';
import { leafField, structField, type QemuState } from './leaf-field.js';
import { markSent, wasSent } from './sent-marks.js';

/** What the stream's vmdesc says one description (or a tmp field) carried. */
export type SentStruct = Pick<VmdescStruct, 'vmsd_name' | 'version' | 'fields' | 'subsections'>;

/** Where a description sits: its path for errors and the prefix of its state keys. */
export interface QemuLayoutPlace {
  /** Path of the description for errors (`ide.bmdma[1]`, `cpu/pkru`). */
  readonly path: string;
  /** Prefix of its fields' state keys (`cpu/pkru:` for a subsection's, empty otherwise). */
  readonly scope: string;
}

type Place = QemuLayoutPlace;

/** Integer infos by size, for a leaf the dump alone describes (the dump has no info names). */
const UNSIGNED_BY_SIZE: Readonly<Record<number, string>> = { 1: 'uint8', 2: 'uint16', 4: 'uint32', 8: 'uint64' };

function mismatch(path: string, detail: string): never {
  throw new QemuLayoutError('DESCRIPTION_MISMATCH', path, detail);
}

/** The vmdesc names of a description's fields: `name`, or `name[k]` for the k-th of several (as QEMU names them). */
function vmdescNames(fields: readonly { readonly name: string }[]): string[] {
  const total = new Map<string, number>();
  for (const f of fields) total.set(f.name, (total.get(f.name) ?? 0) + 1);
  const seen = new Map<string, number>();
  return fields.map((f) => {
    if ((total.get(f.name) ?? 0) < 2) return f.name;
    const k = seen.get(f.name) ?? 0;
    seen.set(f.name, k + 1);
    return `${f.name}[${k}]`;
  });
}

/**
 * The vmdesc entries of one field at `at`: one entry, or one per element. QEMU 7.2 numbers
 * every element's entry (`index` 0, 1, …); QEMU 10.0 numbers only the first and writes the
 * others without `index`. Either way they follow each other under the field's name, which
 * no other field of the description has.
 */
function entriesAt(sent: readonly VmdescField[], at: number, name: string): VmdescField[] {
  const first = sent[at];
  if (first === undefined || first.name !== name) return [];
  if (first.index !== 0) return [first];
  const out: VmdescField[] = [first];
  for (let i = at + 1; i < sent.length; i++) {
    const e = sent[i] as VmdescField;
    if (e.name !== name || (e.index !== undefined && e.index !== out.length)) break;
    out.push(e);
  }
  return out;
}

/** The nested description a struct or tmp entry carried. */
function nestedSent(entry: VmdescField, path: string): SentStruct {
  if (entry.struct) return entry.struct;
  if (entry.fields !== undefined && entry.vmsd_name !== undefined) {
    return { vmsd_name: entry.vmsd_name, version: entry.version ?? 0, fields: entry.fields };
  }
  return mismatch(path, `the dump nests a description here; the vmdesc has a ${entry.type} of ${entry.size} bytes`);
}

/** A description's engine form, its subsections marked when loaded and sent when marked. */
function engineDescription(
  name: string,
  version: number,
  minimumVersion: number,
  fields: VmStateField<QemuState>[],
  subsections: VmStateSubsection<QemuState>[],
): VmStateDescription<QemuState> {
  return { name, version, minimumVersion: Math.min(minimumVersion, version), fields, subsections, create: () => ({}) };
}

function asSubsection(d: VmStateDescription<QemuState>): VmStateSubsection<QemuState> {
  const name = d.name;
  return { ...d, needed: (s) => wasSent(s, name), postLoad: (s) => markSent(s, name) };
}

/**
 * The engine description of `dump` as `sent` carried it, for a body written with `version`.
 * @throws QemuLayoutError when the two disagree
 */
export function layoutFromDumpAndVmdesc(dump: QemuDumpDescription, sent: SentStruct, version: number, place: Place = { path: dump.name, scope: '' }): VmStateDescription<QemuState> {
  if (sent.vmsd_name !== dump.name) mismatch(place.path, `the vmdesc describes "${sent.vmsd_name}", the dump "${dump.name}"`);
  if (version > dump.version) mismatch(place.path, `version ${version} is newer than the dump's ${dump.version}`);
  const names = vmdescNames(dump.fields);
  const fields: VmStateField<QemuState>[] = [];
  let at = 0;
  dump.fields.forEach((f, i) => {
    if (f.since > version) return;
    const name = names[i] as string;
    const entries = entriesAt(sent.fields, at, name);
    at += entries.length;
    // No entry: a conditional field the device did not send, or an array of 0 elements
    // (QEMU describes no element then); either way no byte is on the wire.
    if (entries.length === 0) return;
    fields.push(...fieldFromBoth(f, name, entries, { path: `${place.path}.${name}`, scope: place.scope }));
  });
  const extra = sent.fields[at];
  if (extra !== undefined) mismatch(`${place.path}.${extra.name}`, 'the vmdesc has this field where the dump has no field left to match it');
  const subsections = (sent.subsections ?? []).map((s) => {
    const d = dump.subsections.find((x) => x.name === s.vmsd_name);
    if (d === undefined) mismatch(place.path, `the vmdesc has subsection "${s.vmsd_name}", which the dump does not list`);
    return asSubsection(layoutFromDumpAndVmdesc(d, s, s.version, { path: s.vmsd_name, scope: `${s.vmsd_name}:` }));
  });
  return engineDescription(dump.name, version, dump.minimumVersion, fields, subsections);
}

function fieldFromBoth(f: QemuDumpField, name: string, entries: readonly VmdescField[], place: Place): VmStateField<QemuState>[] {
  const first = entries[0] as VmdescField;
  const key = `${place.scope}${name}`;
  const perElement = first.index !== undefined;
  const count = perElement ? entries.length : first.array_len;
  if (f.count !== undefined && (count ?? 1) !== f.count && !f.conditional) {
    // A fixed array always carries its `num` elements (a varray's count is not dumped).
    mismatch(place.path, `the dump says ${f.count} elements, the vmdesc ${count ?? 1}`);
  }
  const nested = f.description;
  if (nested === undefined) {
    if (first.struct !== undefined || first.fields !== undefined) mismatch(place.path, 'the vmdesc nests a description here; the dump has a leaf');
    if (entries.some((e) => e.size !== first.size || e.type !== first.type)) mismatch(place.path, 'its elements differ in type or size');
    if (first.size !== f.size && first.type !== 'unused_buffer') {
      mismatch(place.path, `the dump says ${f.size} bytes per element, the vmdesc ${first.size} (${first.type})`);
    }
    return [leafField({ name, key, info: first.type, size: first.size, count })];
  }
  const build = (e: VmdescField, path: string, scope: string): VmStateDescription<QemuState> => {
    const s = nestedSent(e, path);
    return layoutFromDumpAndVmdesc(nested, s, s.version, { path, scope });
  };
  if (perElement) {
    // One entry per element (a struct with subsections, or a conditional field): each
    // element is its own field, so each may differ in what it carried.
    return entries.map((e, i) => structField(`${name}[${i}]`, `${key}[${i}]`, e.type, build(e, `${place.path}[${i}]`, '')));
  }
  return [structField(name, key, first.type, build(first, place.path, ''), count)];
}

/**
 * The engine description of `dump` alone, for a stream without a vmdesc: integers are read
 * unsigned by size, `num` gives an array's count (dumps of QEMU 8.1 and later).
 * @throws QemuLayoutError (UNDECIDABLE) for a conditional field, which only the device can decide
 */
export function layoutFromDump(dump: QemuDumpDescription, version: number, place: Place = { path: dump.name, scope: '' }): VmStateDescription<QemuState> {
  if (version > dump.version) mismatch(place.path, `version ${version} is newer than the dump's ${dump.version}`);
  const names = vmdescNames(dump.fields);
  const fields: VmStateField<QemuState>[] = [];
  dump.fields.forEach((f, i) => {
    if (f.since > version) return;
    const name = names[i] as string;
    const path = `${place.path}.${name}`;
    const key = `${place.scope}${name}`;
    if (f.conditional) throw new QemuLayoutError('UNDECIDABLE', path, 'the device decides whether this field is sent (field_exists), and the stream has no vmdesc to say');
    if (f.description) {
      fields.push(structField(name, key, 'struct', layoutFromDump(f.description, f.description.version, { path, scope: '' }), f.count));
    } else {
      fields.push(leafField({ name, key, info: UNSIGNED_BY_SIZE[f.size] ?? 'buffer', size: f.size, count: f.count }));
    }
  });
  const subsections: VmStateSubsection<QemuState>[] = [];
  for (const s of dump.subsections) {
    try {
      subsections.push(asSubsection(layoutFromDump(s, s.version, { path: s.name, scope: `${s.name}:` })));
    } catch (err) {
      // A subsection the dump cannot lay out is left out: if it is on the wire, the decoder
      // names it as unknown there.
      if (!(err instanceof QemuLayoutError)) throw err;
    }
  }
  return engineDescription(dump.name, version, dump.minimumVersion, fields, subsections);
}

/**
 * The engine description of a section the dump does not describe (QEMU dumps device
 * classes only; `cpu`, `timer`, bus and `vmstate_register` descriptions are not in it),
 * from the stream's vmdesc alone.
 */
export function layoutFromVmdesc(sent: SentStruct, place: Place = { path: sent.vmsd_name, scope: '' }): VmStateDescription<QemuState> {
  const fields: VmStateField<QemuState>[] = [];
  for (let at = 0; at < sent.fields.length; ) {
    const first = sent.fields[at] as VmdescField;
    const entries = entriesAt(sent.fields, at, first.name);
    at += entries.length;
    const name = first.name;
    const key = `${place.scope}${name}`;
    const path = `${place.path}.${name}`;
    const nested = first.struct !== undefined || first.fields !== undefined;
    if (first.index !== undefined) {
      entries.forEach((e, i) => {
        const p = `${path}[${i}]`;
        fields.push(
          nested
            ? structField(`${name}[${i}]`, `${key}[${i}]`, e.type, layoutFromVmdesc(nestedSent(e, p), { path: p, scope: '' }))
            : leafField({ name: `${name}[${i}]`, key: `${key}[${i}]`, info: e.type, size: e.size }),
        );
      });
    } else if (nested) {
      fields.push(structField(name, key, first.type, layoutFromVmdesc(nestedSent(first, path), { path, scope: '' }), first.array_len));
    } else {
      fields.push(leafField({ name, key, info: first.type, size: first.size, count: first.array_len }));
    }
  }
  const subsections = (sent.subsections ?? []).map((s) => asSubsection(layoutFromVmdesc(s, { path: s.vmsd_name, scope: `${s.vmsd_name}:` })));
  return engineDescription(sent.vmsd_name, sent.version, 0, fields, subsections);
}
