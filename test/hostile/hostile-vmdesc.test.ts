/**
 * Issue 17 item 2: a VMDESCRIPTION of a few hundred bytes whose nested `array_len`s of 2^20
 * describe 2^60 zero-size values. Parsing refuses it (budget), and `inspectStream` on the
 * whole file ends quickly under a 128 MiB heap cap, saying why the vmdesc was not used.
 */
import { MAX_VMDESC_VALUES, VmdescError, parseVmDescription, ByteArrayWriter, writeConfiguration, writeEof, writeHeader, writeSectionFooter, writeSectionFull, writeVmdesc } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { runBoundedChild } from './bounded-child.js';

const nested = (depth: number): Record<string, unknown> =>
  depth === 0
    ? { name: 'leaf', type: 'uint8', size: 0, array_len: 1 << 20 }
    : { name: `a${depth}`, type: 'struct', size: 0, array_len: 1 << 20, struct: { vmsd_name: `s${depth}`, version: 0, fields: [nested(depth - 1)] } };

const HOSTILE = JSON.stringify({ page_size: 4096, devices: [{ name: 'x', instance_id: 0, vmsd_name: 'x', version: 1, fields: [nested(2)] }] });

function hostileFile(): Buffer {
  const f = new ByteArrayWriter();
  writeHeader(f);
  writeConfiguration(f, 'pc');
  writeSectionFull(f, { sectionId: 0, idstr: 'x', instanceId: 0, versionId: 1 });
  writeSectionFooter(f, 0);
  writeEof(f);
  writeVmdesc(f, HOSTILE);
  return f.bytes();
}

describe('a vmdesc that describes far more than its bytes', () => {
  it('parseVmDescription refuses it with a typed error naming the field and the budget', () => {
    expect(HOSTILE.length).toBeLessThan(400);
    let caught: unknown;
    try {
      parseVmDescription(HOSTILE, 1234);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(VmdescError);
    const err = caught as VmdescError;
    expect(err.code).toBe('BAD_VMDESC');
    expect(err.offset).toBe(1234);
    expect(err.message).toMatch(/^at byte offset 1234: vmdescription: vmdesc\.devices\[0\]\.fields\[0\]\.struct\.fields\[0\] describes \d+ values, more than the 1048576 a vmdesc may$/);
    expect(MAX_VMDESC_VALUES).toBe(1 << 20);
  });

  it('refuses a vmdesc nested deeper than its depth limit, and one that is not JSON', () => {
    let deep: Record<string, unknown> = { name: 'leaf', type: 'uint8', size: 1 };
    for (let i = 0; i < 200; i++) deep = { name: 'n', type: 'struct', size: 1, struct: { vmsd_name: 'v', version: 0, fields: [deep] } };
    expect(() => parseVmDescription(JSON.stringify({ devices: [{ name: 'x', instance_id: 0, fields: [deep] }] }))).toThrow(/nested deeper than 64/);
    expect(() => parseVmDescription('{"devices": [')).toThrow(VmdescError);
  });

  it('inspect reads the whole file in bounded time and memory, with a warning naming the cause', async () => {
    const bytes = hostileFile();
    expect(bytes.length).toBeLessThan(450);
    const run = await runBoundedChild('./inspect-file-child.ts', { base64: bytes.toString('base64') }, { timeoutMs: 20_000, heapMb: 128 });
    expect(run.timedOut, run.stderr).toBe(false);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { ok: boolean; warnings: string[] };
    expect(result.ok).toBe(true);
    expect(result.warnings[0]).toMatch(/^vmdescription not used .*: at byte offset \d+: vmdescription: .* describes \d+ values, more than the 1048576 a vmdesc may$/);
  });
});
