/**
 * Every FULL section of every QEMU capture (7.2 and 10.0; none, pc and q35; paused and
 * running) decoded through QEMU's own descriptions (the version's `-dump-vmstate`, with the
 * stream's vmdesc) and encoded back by the engine: byte-identical to QEMU's bytes. The
 * section list is checked against the capture's `.sections.txt`, written by a reader that
 * shares no code with savevm. Then the errors: no description, a dump that disagrees with
 * the vmdesc, bytes that do not decode, each naming the section, the field and the offset.
 */
import { inspectStream } from '@savevm/inspect';
import type { VmdescDevice } from '@savevm/stream';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  QemuSectionError,
  decodeQemuSection,
  parseQemuVmstateDump,
  reencodeQemuSection,
  type QemuSectionBody,
  type QemuVmstateDump,
} from '../src/vmstate/qemu/index.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const VERSIONS = ['7.2', '10.0'] as const;
const CAPTURES = ['none-paused', 'none-running', 'pc-paused', 'pc-running', 'q35-paused', 'q35-running'] as const;

const dumps = new Map<string, QemuVmstateDump>(
  VERSIONS.map((v) => [v, parseQemuVmstateDump(gunzipSync(readFileSync(`${fixtures}qemu-${v}/qemu-${v}-dump-vmstate.json.gz`)).toString('utf8'))]),
);

/** The FULL sections of a capture, as the independent listing names them. */
function listedFullSections(version: string, capture: string): string[] {
  const text = readFileSync(`${fixtures}qemu-${version}/${capture}.sections.txt`, 'utf8');
  return [...text.matchAll(/ FULL +id=\d+ +idstr='([^']*)' instance_id=(\d+)/g)].map((m) => `${m[1]}#${m[2]}`);
}

/** Every FULL section body of a stream, with its vmdesc entry. */
async function fullSections(bytes: Buffer): Promise<QemuSectionBody[]> {
  const inspection = await inspectStream(bytes);
  const devices: readonly VmdescDevice[] = inspection.vmdesc?.devices ?? [];
  const out: QemuSectionBody[] = [];
  for (const item of inspection.records) {
    const r = item.record;
    if (r.type !== 'full' || item.bodySize === undefined) continue;
    out.push({
      idstr: r.idstr,
      instanceId: r.instanceId,
      versionId: r.versionId,
      body: bytes.subarray(r.bodyOffset, r.bodyOffset + item.bodySize),
      bodyOffset: r.bodyOffset,
      vmdesc: devices.find((d) => d.name === r.idstr && d.instance_id === r.instanceId),
    });
  }
  return out;
}

function captured<T>(run: () => Promise<T>): Promise<unknown> {
  return run().then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe.each(VERSIONS)('QEMU %s captures', (version) => {
  const dump = dumps.get(version) as QemuVmstateDump;
  it.each(CAPTURES)('%s: every FULL section decodes and re-encodes byte for byte', async (capture) => {
    const bytes = readFileSync(`${fixtures}qemu-${version}/${capture}.mig`);
    const sections = await fullSections(bytes);
    expect(sections.map((s) => `${s.idstr}#${s.instanceId}`)).toEqual(listedFullSections(version, capture));
    const fromDump: string[] = [];
    for (const s of sections) {
      const { decoded, body } = await reencodeQemuSection(s, dump);
      expect(body.equals(Buffer.from(s.body))).toBe(true);
      if (decoded.source === 'dump+vmdesc') fromDump.push(decoded.description.name);
    }
    // The devices QEMU dumps are decoded with the dump's description, not the vmdesc's alone.
    if (capture.startsWith('none')) expect(fromDump).toEqual([]);
    else expect(fromDump).toEqual(expect.arrayContaining(['PCIHost', 'ioapic', 'hpet', 'mc146818rtc', 'i8254', 'i8259', 'fw_cfg', 'ps2kbd', 'kvm-tpr-opt']));
  });
});

describe('the decoded fields', () => {
  it('names the fields of a device from the dump, with their QEMU kinds', async () => {
    const bytes = readFileSync(`${fixtures}qemu-7.2/pc-running.mig`);
    const rtc = (await fullSections(bytes)).find((s) => s.idstr === 'mc146818rtc') as QemuSectionBody;
    const d = await decodeQemuSection(rtc, dumps.get('7.2'));
    expect(d.source).toBe('dump+vmdesc');
    const fields = d.description.fields.map((f) => `${f.name}:${f.info}`);
    expect(fields).toEqual(expect.arrayContaining(['cmos_data:buffer', 'cmos_index:uint8', 'unused[0]:unused_buffer', 'periodic_timer:timer']));
    expect(d.state.cmos_data).toBeInstanceOf(Uint8Array);
    expect((d.state.cmos_data as Uint8Array).length).toBe(128);
  });
});

describe('errors name the section, the field and the offset', () => {
  const pc = readFileSync(`${fixtures}qemu-7.2/pc-running.mig`);

  it('a section neither the dump nor a vmdesc describes', async () => {
    const cpu = (await fullSections(pc)).find((s) => s.idstr === 'cpu') as QemuSectionBody;
    const err = await captured(() => decodeQemuSection({ ...cpu, vmdesc: undefined }, dumps.get('7.2')));
    expect(err).toBeInstanceOf(QemuSectionError);
    const e = err as QemuSectionError;
    expect(e.reason).toBe('NO_DESCRIPTION');
    expect(e.section).toBe('cpu#0');
    expect(e.offset).toBe(cpu.bodyOffset);
  });

  it('a body cut short', async () => {
    const hpet = (await fullSections(pc)).find((s) => s.idstr === 'hpet') as QemuSectionBody;
    const err = await captured(() => decodeQemuSection({ ...hpet, body: hpet.body.subarray(0, 40) }, dumps.get('7.2')));
    const e = err as QemuSectionError;
    expect(e).toBeInstanceOf(QemuSectionError);
    expect(e.reason).toBe('BAD_BODY');
    expect(e.section).toBe('hpet#0');
    expect(e.field).toMatch(/^hpet/);
    expect(e.offset).toBe(hpet.bodyOffset + 40);
  });

  it('a body longer than its description', async () => {
    const pit = (await fullSections(pc)).find((s) => s.idstr === 'i8254') as QemuSectionBody;
    const longer = Buffer.concat([pit.body, Buffer.from([0])]);
    const e = (await captured(() => decodeQemuSection({ ...pit, body: longer }, dumps.get('7.2')))) as QemuSectionError;
    expect(e.reason).toBe('WRONG_LENGTH');
    expect(e.offset).toBe(pit.bodyOffset + pit.body.length);
  });

  it('a dump whose description disagrees with the vmdesc', async () => {
    const text = gunzipSync(readFileSync(`${fixtures}qemu-7.2/qemu-7.2-dump-vmstate.json.gz`)).toString('utf8');
    const doc = JSON.parse(text) as Record<string, { Description: { Fields: { field: string; size: number }[] } }>;
    const field = doc['port92']?.Description.Fields[0] as { size: number };
    field.size = 2;
    const port92 = (await fullSections(pc)).find((s) => s.idstr === 'port92') as QemuSectionBody;
    const e = (await captured(() => decodeQemuSection(port92, parseQemuVmstateDump(doc)))) as QemuSectionError;
    expect(e.reason).toBe('DESCRIPTION_MISMATCH');
    expect(e.section).toBe('port92#0');
    expect(e.field).toBe('port92.outport');
    expect(e.message).toMatch(/dump says 2 bytes per element, the vmdesc 1/);
  });

  it('a section with no vmdesc whose dump description has a conditional field', async () => {
    const ide = (await fullSections(pc)).find((s) => s.idstr === '0000:00:01.1/ide') as QemuSectionBody;
    const e = (await captured(() => decodeQemuSection({ ...ide, vmdesc: undefined }, dumps.get('7.2')))) as QemuSectionError;
    expect(e).toBeInstanceOf(QemuSectionError);
    expect(e.section).toBe('0000:00:01.1/ide#0');
  });
});
