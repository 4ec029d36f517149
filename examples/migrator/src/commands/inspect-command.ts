import { parseBytes } from '../args/units.js';
import { UsageError } from '../args/usage-error.js';
import { DEFAULT_INSPECT_MAX_BYTES, InspectInputError, readInspectInput } from './inspect-input.js';
import { type DecodedStruct, type DecodedValue, type InspectedRecord, inspectRecords, inspectStream } from '@savevm/inspect';
import { StreamError, escapeWireString as esc, stringifyForTerminal } from '@savevm/stream';
import type { CliOutput } from '../cli.js';
import { ChunkedText } from './chunked-text.js';
import { QemuVmstateDumpError } from '@savevm/core/qemu-vmstate';
import { writeFile } from 'node:fs/promises';
import { qemuSectionJson, qemuSectionLines, type QemuSectionJson } from './qemu-vmstate-format.js';
import { decodeFullSections, readVmstateDump, reencodeStream, type DecodedSections } from './qemu-vmstate-stream.js';

/** One record of `savevm inspect --json`. */
export interface InspectJsonRecord {
  /** Byte offset of the record in the stream. */
  offset: number;
  /** Record kind: `header`, `configuration`, `start`, `part`, `end`, `full`, `command`, `eof` or `vmdesc`. */
  type: string;
  /** Section id (section records only). */
  sectionId?: number;
  /** Id string of the section's owner, e.g. `ram` (section records only). */
  idstr?: string;
  /** Instance id within the idstr (section records only). */
  instanceId?: number;
  /** Version the source saved the section with (section records only). */
  versionId?: number;
  /** Size of the record's body in bytes, when it is known. */
  bodySize?: number;
  /** Machine type name (configuration record only). */
  machine?: string;
  /** The section decoded through QEMU's description (FULL records, with `--vmstate`). */
  vmstate?: QemuSectionJson;
}

/** Maps an inspected record to the `--json` shape (fields that do not apply are left out). */
export function toJsonRecord(item: InspectedRecord): InspectJsonRecord {
  const r = item.record;
  const out: InspectJsonRecord = { offset: r.offset, type: r.type };
  if (r.type === 'configuration') out.machine = r.machine;
  if (r.type === 'start' || r.type === 'full' || r.type === 'part' || r.type === 'end') {
    out.sectionId = r.sectionId;
    out.idstr = r.idstr;
    out.instanceId = r.instanceId;
    out.versionId = r.versionId;
  }
  if (item.bodySize !== undefined) out.bodySize = item.bodySize;
  return out;
}

/** The exit code of an interrupted command (`savevm --help`). */
const INTERRUPTED = 130;

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function formatValue(v: DecodedValue): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return v.length > 64 ? `${v.slice(0, 64)}… (${v.length / 2} bytes)` : v === '' ? '(empty)' : v;
  if (Array.isArray(v)) {
    const items = v.map(formatValue);
    return items.length > 16 ? `[${items.slice(0, 16).join(', ')}, … ${items.length} items]` : `[${items.join(', ')}]`;
  }
  if (typeof v === 'object') return `{${esc(v.vmsdName)}}`;
  return String(v);
}

/** A decoded struct's lines; every name in it comes from the stream's vmdesc, so it is escaped. */
function formatStruct(s: DecodedStruct, indent: string, lines: string[]): void {
  for (const raw of s.fields) {
    const f = { ...raw, name: esc(raw.name), type: esc(raw.type) };
    const nested = !Array.isArray(f.value) && typeof f.value === 'object' ? f.value : undefined;
    if (nested) {
      lines.push(`${indent}${f.name} (${f.type}, ${f.size} B):`);
      formatStruct(nested, `${indent}  `, lines);
    } else if (Array.isArray(f.value) && f.value.length > 0 && typeof f.value[0] === 'object' && !Array.isArray(f.value[0])) {
      lines.push(`${indent}${f.name} (${f.type}[${f.value.length}], ${f.size} B):`);
      f.value.forEach((el, i) => {
        lines.push(`${indent}  [${i}]`);
        formatStruct(el as DecodedStruct, `${indent}    `, lines);
      });
    } else {
      lines.push(`${indent}${f.name} (${f.type}, ${f.size} B) = ${formatValue(f.value)}`);
    }
  }
  for (const sub of s.subsections) {
    lines.push(`${indent}subsection ${esc(sub.vmsdName)}:`);
    formatStruct(sub, `${indent}  `, lines);
  }
}

/** Formats one record as a text line (plus decoded fields for FULL sections); wire strings in it are escaped. */
export function formatRecordText(item: InspectedRecord): string {
  const r = item.record;
  const body = item.bodySize !== undefined ? ` body=${item.bodySize}` : '';
  switch (r.type) {
    case 'header':
      return `${hex(r.offset)} HEADER version=${r.version}`;
    case 'configuration':
      return `${hex(r.offset)} CONFIGURATION machine='${esc(r.machine)}'${r.subsections.map((s) => ` +${esc(s.name)}`).join('')}`;
    case 'start':
    case 'full':
    case 'part':
    case 'end': {
      const head = `${hex(r.offset)} ${r.type.toUpperCase().padEnd(5)} id=${String(r.sectionId).padEnd(3)} idstr='${esc(r.idstr)}' instance_id=${r.instanceId} version_id=${r.versionId}${body}`;
      const lines = [head];
      if (item.fields) formatStruct(item.fields, '    ', lines);
      if (item.vfio) lines.push(`    vfio: ${esc(item.vfio.tags.join(' '))}`);
      if (item.ram) lines.push(`    ram: ${item.ram.blocks.length} blocks, ${item.ram.pages} pages, ${item.ram.zeroPages} zero pages`);
      return lines.join('\n');
    }
    case 'command':
      return `${hex(r.offset)} COMMAND ${r.name} (${r.command})${body}`;
    case 'eof':
      return `${hex(r.offset)} EOF`;
    case 'vmdesc':
      return `${hex(r.offset)} VMDESCRIPTION${body}`;
  }
}

const INSPECT_USAGE = 'usage: savevm inspect FILE [--json] [--max-bytes SIZE] [--vmstate DUMP.json [--reencode OUT]]\n';

/** The arguments of `inspect`. */
interface InspectArgs {
  readonly file: string;
  readonly json: boolean;
  readonly maxBytes: number;
  /** A `-dump-vmstate` file: decode every FULL section through it (and the stream's vmdesc). */
  readonly vmstate: string | undefined;
  /** Where to write the stream back, FULL sections re-encoded (needs `vmstate`). */
  readonly reencode: string | undefined;
}

function parseInspectArgs(args: readonly string[]): InspectArgs {
  const files: string[] = [];
  let json = false;
  let maxBytes = DEFAULT_INSPECT_MAX_BYTES;
  let vmstate: string | undefined;
  let reencode: string | undefined;
  const path = (option: string, value: string | undefined): string => {
    if (value === undefined || value === '') throw new UsageError(`${option} needs a file`);
    return value;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--json') json = true;
    else if (a === '--max-bytes') maxBytes = parseBytes(args[++i] ?? '', '--max-bytes');
    else if (a === '--vmstate') vmstate = path(a, args[++i]);
    else if (a === '--reencode') reencode = path(a, args[++i]);
    else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else files.push(a);
  }
  if (files.length !== 1) throw new UsageError('one FILE');
  if (reencode !== undefined && vmstate === undefined) throw new UsageError('--reencode needs --vmstate');
  return { file: files[0] as string, json, maxBytes, vmstate, reencode };
}

/**
 * `savevm inspect FILE [--json] [--max-bytes SIZE]`: exit 0 for a valid stream, 1 with
 * offset and cause for an invalid one (or one larger than `--max-bytes`, default 1 GiB),
 * 130 when interrupted (Ctrl-C, SIGTERM: `out.interrupt`), 2 for a usage error. Records are
 * printed as they are read, a chunk at a time (`printRecords`).
 */
export async function runInspect(args: readonly string[], out: CliOutput): Promise<number> {
  let parsed: InspectArgs;
  try {
    parsed = parseInspectArgs(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    out.stderr(INSPECT_USAGE);
    return 2;
  }
  const { file, json, maxBytes, vmstate, reencode } = parsed;
  const signal = out.interrupt;
  let bytes: Buffer;
  try {
    bytes = await readInspectInput(file, maxBytes, signal);
  } catch (err) {
    if (!(err instanceof InspectInputError)) throw err;
    out.stderr(`savevm inspect: ${esc(err.message)}\n`);
    return err.reason === 'INTERRUPTED' ? INTERRUPTED : 1;
  }
  try {
    if (vmstate === undefined) {
      for (const w of await printRecords(bytes, json, out, signal)) out.stderr(`savevm inspect: warning: ${esc(w)}\n`);
      return 0;
    }
    const result = await inspectStream(bytes, signal ? { signal } : {});
    const decoded = vmstate === undefined ? undefined : await decodeFullSections(bytes, result, await readDump(vmstate));
    if (json) {
      const records = result.records.map((item) => withVmstate(toJsonRecord(item), item, decoded));
      out.stdout(`${stringifyForTerminal({ records })}\n`);
    } else {
      out.stdout(`${result.records.map((item) => formatWithVmstate(item, decoded)).join('\n')}\n`);
    }
    if (reencode !== undefined && decoded !== undefined) {
      const written = await reencodeStream(bytes, result, decoded);
      await writeFile(reencode, written.bytes);
      const same = written.differing.length === 0 ? 'byte-identical' : `differing in ${written.differing.map(esc).join(', ')}`;
      out.stderr(`savevm inspect: ${esc(reencode)}: ${written.sections} FULL sections re-encoded, ${same}\n`);
    }
    for (const w of result.warnings) out.stderr(`savevm inspect: warning: ${esc(w)}\n`);
    return 0;
  } catch (err) {
    if (signal?.aborted) {
      out.stderr(`savevm inspect: ${esc(file)}: interrupted\n`);
      return INTERRUPTED;
    }
    if (err instanceof QemuVmstateDumpError || err instanceof DumpReadError) {
      out.stderr(`savevm inspect: ${esc(vmstate ?? '')}: ${esc(err.message)}\n`);
      return 1;
    }
    if (err instanceof StreamError) {
      out.stderr(`savevm inspect: ${esc(file)}: invalid stream at byte offset ${err.offset} (0x${err.offset.toString(16)}): ${esc(err.detail)}\n`);
      return 1;
    }
    throw err;
  }
}

/**
 * Prints every record as `inspectRecords` hands it over, keeping none: text lines, or the
 * `--json` document written a record at a time (the same bytes as printing the collected
 * records). Output goes out in chunks ({@link ChunkedText}); when the stream turns out
 * invalid or the inspection is interrupted, the chunks already written stay written and
 * the one being filled is dropped (see `docs/design/hostile-input.md`, "Cost").
 * @returns the inspection's warnings
 */
async function printRecords(bytes: Buffer, json: boolean, out: CliOutput, signal: AbortSignal | undefined): Promise<string[]> {
  const text = new ChunkedText(out.stdout);
  let count = 0;
  const print = json
    ? (item: InspectedRecord): void => text.add(`${count++ === 0 ? '{"records":[' : ','}${stringifyForTerminal(toJsonRecord(item))}`)
    : (item: InspectedRecord): void => text.add(`${count++ === 0 ? '' : '\n'}${formatRecordText(item)}`);
  const { warnings } = await inspectRecords(bytes, print, signal ? { signal } : {});
  text.add(json ? `${count === 0 ? '{"records":[' : ''}]}\n` : '\n');
  text.flush();
  return warnings;
}

/** The `--json` record with the section decoded through QEMU's description, when there is one. */
function withVmstate(json: InspectJsonRecord, item: InspectedRecord, decoded: DecodedSections | undefined): InspectJsonRecord {
  const section = decoded?.get(item.record.offset);
  if (section === undefined || item.record.type !== 'full') return json;
  return { ...json, vmstate: qemuSectionJson(section) };
}

/** A record's text: with `--vmstate`, a FULL section's fields as QEMU's description names them. */
function formatWithVmstate(item: InspectedRecord, decoded: DecodedSections | undefined): string {
  const section = decoded?.get(item.record.offset);
  if (section === undefined || item.record.type !== 'full') return formatRecordText(item);
  const head = formatRecordText({ record: item.record, ...(item.bodySize === undefined ? {} : { bodySize: item.bodySize }) });
  return [head, ...qemuSectionLines(section)].join('\n');
}

/** The `--vmstate` file could not be read. */
class DumpReadError extends Error {}

async function readDump(path: string): ReturnType<typeof readVmstateDump> {
  try {
    return await readVmstateDump(path);
  } catch (err) {
    if (err instanceof QemuVmstateDumpError) throw err;
    throw new DumpReadError(err instanceof Error ? err.message : String(err), { cause: err });
  }
}
