/**
 * How `savevm inspect --vmstate` shows a FULL section decoded through QEMU's description:
 * each field by name with its QEMU kind and value, nested descriptions and subsections
 * indented (text), or the same tree as JSON (`--json`). Names come from the dump and the
 * stream's vmdesc, so they are escaped for the terminal.
 */
import type { DecodedVmState, DecodedVmStateValue, VmStateField } from '@savevm/core';
import type { DecodedQemuSection } from '@savevm/core/qemu-vmstate';
import { escapeWireString as esc } from '@savevm/stream';

/** One field in `--json`: its name, QEMU kind and value. */
export interface QemuFieldJson {
  /** The field's name (`name[k]` for the k-th of several with one name). */
  name: string;
  /** QEMU's VMStateInfo name (`uint32`, `timer`, `buffer`, `struct`, …). */
  type: string;
  /** Integers (64-bit ones as decimal strings), booleans, hex bytes, nested descriptions, arrays; absent for unused bytes. */
  value?: QemuValueJson;
}

/** A value in `--json`. */
export type QemuValueJson = number | string | boolean | QemuStructJson | QemuValueJson[];

/** A description's fields and the subsections that came, in `--json`. */
export interface QemuStructJson {
  /** The description's name. */
  vmsdName: string;
  /** Its fields. */
  fields: QemuFieldJson[];
  /** Its subsections as they came. */
  subsections: QemuStructJson[];
}

/** The `vmstate` member of a FULL record in `--json`. */
export interface QemuSectionJson extends QemuStructJson {
  /** Where the description came from: `dump+vmdesc`, `dump` or `vmdesc`. */
  source: string;
}

function kindOf(field: VmStateField<unknown>): string {
  if (field.info !== undefined) return field.info;
  return field.kind === 'scalar' ? field.element.type : field.kind;
}

function isStruct(v: DecodedVmStateValue): v is DecodedVmState {
  return typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Uint8Array);
}

function valueJson(v: DecodedVmStateValue): QemuValueJson {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (Array.isArray(v)) return v.map(valueJson);
  if (isStruct(v)) return structJson(v);
  return v;
}

function structJson(d: DecodedVmState): QemuStructJson {
  const fields: QemuFieldJson[] = [];
  for (const field of d.description.fields) {
    const out: QemuFieldJson = { name: field.name, type: kindOf(field) };
    const value = field.kind === 'unused' ? undefined : d.values.get(field.key);
    if (value !== undefined) out.value = valueJson(value);
    fields.push(out);
  }
  return { vmsdName: d.description.name, fields, subsections: d.subsections.map(structJson) };
}

/** A decoded section as the `vmstate` member of its `--json` record. */
export function qemuSectionJson(s: DecodedQemuSection): QemuSectionJson {
  return { source: s.source, ...structJson(s.decoded) };
}

function bytesText(b: Uint8Array): string {
  const hex = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  if (hex === '') return '(empty)';
  return hex.length > 64 ? `${hex.slice(0, 64)}… (${b.length} bytes)` : hex;
}

function scalarText(v: DecodedVmStateValue): string {
  if (v instanceof Uint8Array) return bytesText(v);
  if (Array.isArray(v)) {
    const items = v.map(scalarText);
    return items.length > 16 ? `[${items.slice(0, 16).join(', ')}, … ${items.length} items]` : `[${items.join(', ')}]`;
  }
  return String(v);
}

function structLines(d: DecodedVmState, indent: string, lines: string[]): void {
  for (const field of d.description.fields) {
    const head = `${indent}${esc(field.name)} (${esc(kindOf(field))})`;
    if (field.kind === 'unused') {
      lines.push(`${head}: ${field.size} bytes`);
      continue;
    }
    const value = d.values.get(field.key);
    if (value === undefined) continue;
    if (isStruct(value)) {
      lines.push(`${head}:`);
      structLines(value, `${indent}  `, lines);
    } else if (Array.isArray(value) && value.length > 0 && isStruct(value[0] as DecodedVmStateValue)) {
      lines.push(`${head}[${value.length}]:`);
      value.forEach((el, i) => {
        lines.push(`${indent}  [${i}]`);
        structLines(el as DecodedVmState, `${indent}    `, lines);
      });
    } else {
      lines.push(`${head} = ${scalarText(value)}`);
    }
  }
  for (const sub of d.subsections) {
    lines.push(`${indent}subsection ${esc(sub.description.name)} (version ${sub.version}):`);
    structLines(sub, `${indent}  `, lines);
  }
}

/** A decoded section's lines under its record line: where its description came from, then its fields. */
export function qemuSectionLines(s: DecodedQemuSection, indent = '    '): string[] {
  const lines = [`${indent}vmstate ${esc(s.description.name)} (description: ${s.source}):`];
  structLines(s.decoded, `${indent}  `, lines);
  return lines;
}
