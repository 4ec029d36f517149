/** `savevm inspect` on QEMU 10.0's own streams: SWITCHOVER_START, 10.0's section ids and its globalstate. */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/qemu-10.0/', import.meta.url));

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

describe('savevm inspect on QEMU 10.0 streams', () => {
  it('none-running.mig: the command between START and END, ram id 1, globalstate id 3 field by field', async () => {
    const { code, stdout, stderr } = await run(['inspect', `${FIXTURES}none-running.mig`]);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^0x00000011 START id=1 +idstr='ram'/m);
    expect(stdout).toMatch(/^0x00000037 COMMAND SWITCHOVER_START \(11\) body=0$/m);
    expect(stdout).toMatch(/^0x0000003c END +id=1 /m);
    expect(stdout).toMatch(/^0x0000007e FULL +id=3 +idstr='globalstate'/m);
    expect(stdout).toMatch(/^ {4}has_vm_was_suspended \(uint8, 1 B\) = 1$/m);
    expect(stdout).toMatch(/^ {4}runstate \(buffer, 32 B\) = 72756e6e696e67/m);
  });

  it('q35-running.mig --json: every FULL section decoded from the vmdesc, the last record the vmdesc', async () => {
    const { code, stdout } = await run(['inspect', `${FIXTURES}q35-running.mig`, '--json']);
    expect(code).toBe(0);
    const { records } = JSON.parse(stdout) as { records: { type: string; command?: number; idstr?: string }[] };
    expect(records[1]).toMatchObject({ type: 'configuration', machine: 'pc-q35-10.0' });
    expect(records.filter((r) => r.type === 'command')).toHaveLength(1);
    expect(records.filter((r) => r.type === 'full').length).toBeGreaterThan(25);
    expect(records.at(-1)?.type).toBe('vmdesc');
  });
});
