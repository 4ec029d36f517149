/**
 * One FULL section through QEMU's description: pick the description (the dump's, checked
 * against and completed by the stream's vmdesc; the vmdesc's alone for a section the dump
 * does not describe), decode the body with the engine into a state object, and encode a
 * state object back into a body with the engine's encoder. See
 * `docs/design/qemu-vmstate.md` ("Choosing the description", "Errors").
 */
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter, type VmdescDevice } from '@savevm/stream';
import { applyVmState } from '../apply.js';
import { decodeVmState, type DecodedVmState } from '../decode.js';
import type { VmStateDescription } from '../description.js';
import { VmStateLoadError } from '../errors.js';
import { saveVmState } from '../save.js';
import type { QemuDumpDescription, QemuVmstateDump } from './dump-model.js';
import { QemuLayoutError, QemuSectionError } from './errors.js';
import type { QemuState } from './leaf-field.js';
import { layoutFromDump, layoutFromDumpAndVmdesc, layoutFromVmdesc } from './section-layout.js';

/** One FULL section as the stream carried it. */
export interface QemuSectionBody {
  /** The section's idstr. */
  readonly idstr: string;
  /** Its instance id. */
  readonly instanceId: number;
  /** The version its header gives. */
  readonly versionId: number;
  /** The body's bytes (between the header and the footer). */
  readonly body: Uint8Array;
  /** Stream offset of the body's first byte (for errors). */
  readonly bodyOffset: number;
  /** The stream's vmdesc entry for this section, when the stream has a vmdesc. */
  readonly vmdesc?: VmdescDevice | undefined;
}

/** Where a section's description came from. */
export type QemuDescriptionSource =
  /** The dump's description, completed and checked by the stream's vmdesc. */
  | 'dump+vmdesc'
  /** The dump's description alone (the stream has no vmdesc). */
  | 'dump'
  /** The stream's vmdesc alone (the dump does not describe the section). */
  | 'vmdesc';

/** A decoded FULL section. */
export interface DecodedQemuSection {
  /** `idstr#instance`. */
  readonly section: string;
  /** The section as it came. */
  readonly input: QemuSectionBody;
  /** The engine description it was decoded with. */
  readonly description: VmStateDescription<QemuState>;
  /** Where that description came from. */
  readonly source: QemuDescriptionSource;
  /** The decoded tree (values by field, subsections in stream order). */
  readonly decoded: DecodedVmState;
  /** The state object the decoded values were applied to (what the encoder writes from). */
  readonly state: QemuState;
}

/** The description name a section's idstr implies: QEMU's idstr is `<device path>/<name>` or `<name>`. */
export function vmsdNameOfIdstr(idstr: string): string {
  const slash = idstr.lastIndexOf('/');
  return slash < 0 ? idstr : idstr.slice(slash + 1);
}

function sectionName(s: QemuSectionBody): string {
  return `${s.idstr}#${s.instanceId}`;
}

/** The candidate descriptions of a section, each with where it came from; the first that fits wins. */
function candidates(s: QemuSectionBody, dump: QemuVmstateDump | undefined): { build: () => VmStateDescription<QemuState>; source: QemuDescriptionSource }[] {
  const v = s.vmdesc;
  const name = v?.vmsd_name ?? vmsdNameOfIdstr(s.idstr);
  const variants: readonly QemuDumpDescription[] = dump?.descriptions.get(name) ?? [];
  if (v !== undefined && v.fields === undefined) {
    // A section without a vmstate description (QEMU's old save_state hook): its bytes as one buffer.
    const size = v.size ?? s.body.length;
    return [{ source: 'vmdesc', build: () => layoutFromVmdesc({ vmsd_name: name, version: s.versionId, fields: [{ name: 'data', type: 'buffer', size }] }) }];
  }
  if (v !== undefined) {
    const sent = { vmsd_name: name, version: v.version ?? s.versionId, fields: v.fields ?? [], ...(v.subsections ? { subsections: v.subsections } : {}) };
    if (variants.length === 0) return [{ source: 'vmdesc', build: () => layoutFromVmdesc(sent) }];
    return variants.map((d) => ({ source: 'dump+vmdesc' as const, build: () => layoutFromDumpAndVmdesc(d, sent, s.versionId) }));
  }
  return variants.map((d) => ({ source: 'dump' as const, build: () => layoutFromDump(d, s.versionId) }));
}

async function decodeWith(s: QemuSectionBody, description: VmStateDescription<QemuState>): Promise<{ decoded: DecodedVmState; state: QemuState }> {
  const section = sectionName(s);
  const r = new QemuFileReader(new MemoryReadChannel(s.body), { startOffset: s.bodyOffset });
  let decoded: DecodedVmState;
  try {
    decoded = await decodeVmState(r, description as VmStateDescription<unknown>, s.versionId);
  } catch (err) {
    if (!(err instanceof VmStateLoadError)) throw err;
    throw new QemuSectionError({ reason: 'BAD_BODY', section, field: err.field === undefined ? err.description : `${err.description}.${err.field}`, offset: err.offset, detail: err.detail, cause: err });
  }
  const end = s.bodyOffset + s.body.length;
  if (r.offset !== end) {
    throw new QemuSectionError({
      reason: 'WRONG_LENGTH',
      section,
      offset: r.offset,
      detail: `the description ${description.name} ends after ${r.offset - s.bodyOffset} bytes; the body has ${s.body.length}`,
    });
  }
  const state: QemuState = {};
  await applyVmState(decoded, state, end);
  return { decoded, state };
}

/**
 * Decodes one FULL section through QEMU's description of it (`dump`, with the stream's
 * vmdesc entry when there is one).
 * @throws QemuSectionError naming the section, the field and the offset: no description,
 *   a dump and vmdesc that disagree, bytes that do not decode, or a body of another length
 */
export async function decodeQemuSection(s: QemuSectionBody, dump: QemuVmstateDump | undefined): Promise<DecodedQemuSection> {
  const section = sectionName(s);
  const tries = candidates(s, dump);
  if (tries.length === 0) {
    throw new QemuSectionError({
      reason: 'NO_DESCRIPTION',
      section,
      offset: s.bodyOffset,
      detail: `no description "${s.vmdesc?.vmsd_name ?? vmsdNameOfIdstr(s.idstr)}" in the dump, and the stream has no vmdesc entry for it`,
    });
  }
  let firstError: unknown;
  for (const { build, source } of tries) {
    try {
      const description = build();
      const { decoded, state } = await decodeWith(s, description);
      return { section, input: s, description, source, decoded, state };
    } catch (err) {
      if (err instanceof QemuLayoutError) {
        firstError ??= new QemuSectionError({ reason: err.reason, section, field: err.field, offset: s.bodyOffset, detail: err.message.slice(err.field.length + 2) });
      } else if (err instanceof QemuSectionError) {
        firstError ??= err;
      } else {
        throw err;
      }
    }
  }
  throw firstError;
}

/**
 * Encodes a decoded section's state back into a body with the engine's encoder (it never
 * copies the bytes it was decoded from).
 */
export async function encodeQemuSection(d: DecodedQemuSection): Promise<Buffer> {
  const channel = new MemoryWriteChannel();
  const w = new QemuFileWriter(channel);
  await saveVmState(w, d.description, d.state);
  await w.flush();
  return Buffer.from(channel.bytes());
}

/** A section decoded and encoded again. */
export interface ReencodedQemuSection {
  /** The decoded section. */
  readonly decoded: DecodedQemuSection;
  /** The body the engine's encoder wrote from it. */
  readonly body: Buffer;
}

/**
 * Decodes a section and encodes it again; the result must be the body's own bytes.
 * @throws QemuSectionError (`NOT_IDENTICAL`) at the first differing byte, naming the section
 */
export async function reencodeQemuSection(s: QemuSectionBody, dump: QemuVmstateDump | undefined): Promise<ReencodedQemuSection> {
  const decoded = await decodeQemuSection(s, dump);
  const body = await encodeQemuSection(decoded);
  const original = Buffer.from(s.body.buffer, s.body.byteOffset, s.body.byteLength);
  if (!body.equals(original)) {
    let i = 0;
    while (i < body.length && i < original.length && body[i] === original[i]) i++;
    throw new QemuSectionError({
      reason: 'NOT_IDENTICAL',
      section: decoded.section,
      offset: s.bodyOffset + i,
      detail: `the re-encoded body (${body.length} bytes) differs from the stream's (${original.length} bytes) at body byte ${i}`,
    });
  }
  return { decoded, body };
}
