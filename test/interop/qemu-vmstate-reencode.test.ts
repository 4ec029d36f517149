/**
 * QEMU loads the streams our engine re-encodes from QEMU's own descriptions: for each
 * version's captures (none, pc, q35; paused and running), every FULL section is decoded
 * through that version's `-dump-vmstate` and the stream's vmdesc, encoded again by the
 * engine (header and footer by the stream writer), spliced between the other records as
 * they came — byte-identical to QEMU's stream — and that QEMU loads it (see
 * `docs/design/qemu-vmstate.md`, "Proof").
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { parseQemuVmstateDump, reencodeQemuSection, type QemuVmstateDump } from '@savevm/core/qemu-vmstate';
import { inspectStream } from '@savevm/inspect';
import { ByteArrayWriter, writeSectionFooter, writeSectionFull } from '@savevm/stream';
import { expect, it } from 'vitest';
import { describeEachQemu, loadStream } from './qemu-harness.js';

const fixtures = (version: string): string => fileURLToPath(new URL(`../fixtures/qemu-${version}/`, import.meta.url));

/** The stream with every FULL section re-encoded by the engine; the count of those sections. */
async function reencoded(bytes: Buffer, dump: QemuVmstateDump): Promise<{ bytes: Buffer; sections: number }> {
  const inspection = await inspectStream(bytes);
  const devices = inspection.vmdesc?.devices ?? [];
  const parts: Buffer[] = [];
  let copied = 0;
  let sections = 0;
  for (const item of inspection.records) {
    const r = item.record;
    if (r.type !== 'full' || item.bodySize === undefined) continue;
    const body = bytes.subarray(r.bodyOffset, r.bodyOffset + item.bodySize);
    const vmdesc = devices.find((d) => d.name === r.idstr && d.instance_id === r.instanceId);
    const again = await reencodeQemuSection({ idstr: r.idstr, instanceId: r.instanceId, versionId: r.versionId, body, bodyOffset: r.bodyOffset, vmdesc }, dump);
    const w = new ByteArrayWriter();
    writeSectionFull(w, r);
    w.putBuffer(again.body);
    writeSectionFooter(w, r.sectionId);
    parts.push(bytes.subarray(copied, r.offset), w.bytes());
    copied = r.bodyOffset + item.bodySize + 5;
    sections++;
  }
  parts.push(bytes.subarray(copied));
  return { bytes: Buffer.concat(parts), sections };
}

const CAPTURES = [
  ['none', 'paused', undefined],
  ['none', 'running', undefined],
  ['pc', 'paused', 16],
  ['pc', 'running', 16],
  ['q35', 'paused', 16],
  ['q35', 'running', 16],
] as const;

describeEachQemu((v) => `QEMU ${v} loads its own captures re-encoded through its -dump-vmstate`, (qemu) => {
  const dir = fixtures(qemu.version);
  const dump = parseQemuVmstateDump(gunzipSync(readFileSync(`${dir}qemu-${qemu.version}-dump-vmstate.json.gz`)).toString('utf8'));
  it.each(CAPTURES)('%s-%s', async (machine, state, memoryMiB) => {
    const original = readFileSync(`${dir}${machine}-${state}.mig`);
    const { bytes, sections } = await reencoded(original, dump);
    expect(sections).toBe((readFileSync(`${dir}${machine}-${state}.sections.txt`, 'utf8').match(/ FULL /g) ?? []).length);
    expect(bytes.equals(original)).toBe(true);
    const result = await loadStream(bytes, { machine, qemu: qemu.version, timeoutMs: 30_000, ...(memoryMiB === undefined ? {} : { memoryMiB }) });
    expect(result.stderr).not.toContain('load of migration failed');
    // Loaded under -S: a capture of a VM that never ran carries `prelaunch` in its globalstate.
    expect(result).toMatchObject({ accepted: true, status: state === 'paused' ? 'prelaunch' : 'paused', exitCode: 0 });
  });
});
