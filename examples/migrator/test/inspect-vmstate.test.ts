/**
 * `savevm inspect FILE --vmstate DUMP [--reencode OUT]`: every FULL section of QEMU's
 * captures printed by the names of QEMU's own descriptions (text and `--json`), and the
 * stream written back with each FULL section encoded by the engine — byte-identical to
 * QEMU's for all twelve captures; a changed value changes exactly its bytes; a missing
 * description or a bad dump is an error naming the section, the field and the offset.
 */
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { inspectStream } from '@savevm/inspect';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { decodeFullSections, readVmstateDump, reencodeStream } from '../src/commands/qemu-vmstate-stream.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'savevm-vmstate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const dumpOf = (v: string): string => `${FIXTURES}qemu-${v}/qemu-${v}-dump-vmstate.json.gz`;
const CAPTURES = ['none-paused', 'none-running', 'pc-paused', 'pc-running', 'q35-paused', 'q35-running'];

describe.each(['7.2', '10.0'])('savevm inspect --vmstate --reencode on QEMU %s captures', (v) => {
  it.each(CAPTURES)('%s: the re-encoded stream is byte-identical', async (capture) => {
    const file = `${FIXTURES}qemu-${v}/${capture}.mig`;
    const out = join(dir, `${v}-${capture}.mig`);
    const { code, stderr } = await run(['inspect', file, '--vmstate', dumpOf(v), '--reencode', out]);
    expect(code).toBe(0);
    const fulls = (readFileSync(`${FIXTURES}qemu-${v}/${capture}.sections.txt`, 'utf8').match(/ FULL /g) ?? []).length;
    expect(stderr).toBe(`savevm inspect: ${out}: ${fulls} FULL sections re-encoded, byte-identical\n`);
    expect(readFileSync(out).equals(readFileSync(file))).toBe(true);
  });
});

describe('savevm inspect --vmstate output', () => {
  const pc = `${FIXTURES}qemu-7.2/pc-running.mig`;

  it('prints each device field by field, by the names of its description', async () => {
    const { code, stdout } = await run(['inspect', pc, '--vmstate', dumpOf('7.2')]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^0x0007958a FULL +id=20 +idstr='i8254' instance_id=0 version_id=3 body=108\n {4}vmstate i8254 \(description: dump\+vmdesc\):$/m);
    expect(stdout).toMatch(/^ {6}channels \(struct\)\[3\]:$/m);
    expect(stdout).toMatch(/^ {6}periodic_timer \(timer\) = -?\d+$/m);
    expect(stdout).toMatch(/^ {6}unused\[0\] \(unused_buffer\): 28 bytes$/m);
    expect(stdout).toMatch(/^ {6}subsection fw_cfg\/acpi_mr \(version 1\):$/m);
    expect(stdout).toMatch(/^ {4}vmstate cpu \(description: vmdesc\):$/m);
  });

  it('--json: each FULL record carries its decoded description', async () => {
    const { code, stdout } = await run(['inspect', pc, '--json', '--vmstate', dumpOf('7.2')]);
    expect(code).toBe(0);
    const { records } = JSON.parse(stdout) as { records: { type: string; idstr?: string; vmstate?: { source: string; vmsdName: string; fields: { name: string; type: string; value?: unknown }[] } }[] };
    const fulls = records.filter((r) => r.type === 'full');
    expect(fulls).toHaveLength(30);
    for (const r of fulls) expect(r.vmstate?.fields.length).toBeGreaterThan(0);
    const port92 = fulls.find((r) => r.idstr === 'port92');
    expect(port92?.vmstate).toEqual({ source: 'dump+vmdesc', vmsdName: 'port92', fields: [{ name: 'outport', type: 'uint8', value: expect.any(Number) }], subsections: [] });
    const timer = fulls.find((r) => r.idstr === 'timer');
    expect(timer?.vmstate?.fields[0]).toEqual({ name: 'cpu_ticks_offset', type: 'int64', value: expect.stringMatching(/^\d+$/) });
  });

  it('the encoder writes from the decoded values: a changed value changes exactly its bytes', async () => {
    const bytes = readFileSync(pc);
    const inspection = await inspectStream(bytes);
    const sections = await decodeFullSections(bytes, inspection, await readVmstateDump(dumpOf('7.2')));
    const port92 = [...sections.values()].find((s) => s.input.idstr === 'port92');
    expect(port92).toBeDefined();
    if (port92 === undefined) return;
    const before = port92.state.outport as number;
    port92.state.outport = before ^ 0xff;
    const written = await reencodeStream(bytes, inspection, sections);
    expect(written.differing).toEqual(['port92#0']);
    const at = port92.input.bodyOffset;
    expect(written.bytes[at]).toBe(before ^ 0xff);
    expect(Buffer.concat([written.bytes.subarray(0, at), written.bytes.subarray(at + 1)]).equals(Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]))).toBe(true);
  });

  it('a section the dump and the stream do not describe: exit 1 naming the section and the offset', async () => {
    // The stream without its vmdesc: `timer` is not in the dump (QEMU dumps device classes only).
    const bytes = readFileSync(pc);
    const inspection = await inspectStream(bytes);
    const vmdesc = inspection.records.find((r) => r.record.type === 'vmdesc');
    const cut = join(dir, 'no-vmdesc.mig');
    writeFileSync(cut, bytes.subarray(0, vmdesc?.record.offset));
    const { code, stderr } = await run(['inspect', cut, '--vmstate', dumpOf('7.2')]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/invalid stream at byte offset \d+ \(0x[0-9a-f]+\): section timer#0: no description "timer" in the dump, and the stream has no vmdesc entry for it/);
  });

  it('a dump that disagrees with the stream: exit 1 naming the section, the field and the offset', async () => {
    const dump = JSON.parse(gunzipSync(readFileSync(dumpOf('7.2'))).toString('utf8')) as Record<string, { Description: { Fields: { size: number }[] } }>;
    (dump['port92']?.Description.Fields[0] as { size: number }).size = 4;
    const file = join(dir, 'port92-dump.json');
    writeFileSync(file, JSON.stringify(dump));
    const { code, stderr } = await run(['inspect', pc, '--vmstate', file]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/at byte offset \d+ \(0x[0-9a-f]+\): section port92#0, field port92\.outport: the dump says 4 bytes per element, the vmdesc 1 \(uint8\)/);
  });

  it('a dump that is not one: exit 1 naming the JSON path', async () => {
    const file = join(dir, 'bad-dump.json');
    writeFileSync(file, JSON.stringify({ fdc: { Name: 'fdc', Description: { name: 'fdc', version_id: 2, minimum_version_id: 2, Fields: [{ field: 'x' }] } } }));
    const { code, stderr } = await run(['inspect', pc, '--vmstate', file]);
    expect(code).toBe(1);
    expect(stderr).toContain('vmstate dump: fdc.Description.Fields[0].field_exists: expected true or false');
  });

  it('--reencode without --vmstate is a usage error', async () => {
    const { code, stderr } = await run(['inspect', pc, '--reencode', join(dir, 'x.mig')]);
    expect(code).toBe(2);
    expect(stderr).toContain('--vmstate DUMP.json');
  });
});
