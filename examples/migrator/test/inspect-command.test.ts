import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/qemu-7.2/', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/savevm.js', import.meta.url));

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

describe('savevm inspect', () => {
  it('prints the records of a QEMU stream as JSON in the documented shape', async () => {
    const { code, stdout, stderr } = await run(['inspect', `${FIXTURES}none-paused.mig`, '--json']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(JSON.parse(stdout)).toEqual({
      records: [
        { offset: 0, type: 'header' },
        { offset: 8, type: 'configuration', machine: 'none' },
        { offset: 0x11, type: 'start', sectionId: 2, idstr: 'ram', instanceId: 0, versionId: 4, bodySize: 16 },
        { offset: 0x37, type: 'end', sectionId: 2, idstr: 'ram', instanceId: 0, versionId: 4, bodySize: 8 },
        { offset: 0x49, type: 'full', sectionId: 0, idstr: 'timer', instanceId: 0, versionId: 2, bodySize: 24 },
        { offset: 0x79, type: 'full', sectionId: 4, idstr: 'globalstate', instanceId: 0, versionId: 1, bodySize: 104 },
        { offset: 0xff, type: 'eof' },
        { offset: 0x100, type: 'vmdesc', bodySize: 486 },
      ],
    });
  });

  it('prints FULL sections field by field in text mode', async () => {
    const { code, stdout } = await run(['inspect', `${FIXTURES}pc-running.mig`]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^0x0007b731 FULL +id=40 +idstr='globalstate' instance_id=0 version_id=1 body=104$/m);
    expect(stdout).toMatch(/^ {4}size \(uint32, 4 B\) = 8$/m);
    expect(stdout).toMatch(/^ {4}env\.eip \(uint64, 8 B\) = \d+$/m);
  });

  it('exits 1 naming the offset and the cause for an invalid stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'savevm-cli-'));
    try {
      const bad = Buffer.from(readFileSync(`${FIXTURES}none-paused.mig`));
      bad[0x74] = 0x7f; // the timer footer's marker
      writeFileSync(join(dir, 'bad.mig'), bad);
      const { code, stdout, stderr } = await run(['inspect', join(dir, 'bad.mig')]);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toContain('byte offset 116 (0x74)');
      expect(stderr).toContain('missing section footer for timer');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad usage with exit 2', async () => {
    expect((await run(['inspect'])).code).toBe(2);
    expect((await run(['inspect', 'a', '--frobnicate'])).code).toBe(2);
    expect((await run(['nosuch'])).code).toBe(2);
    expect((await run(['inspect', '/nonexistent/file.mig'])).code).toBe(1);
  });

  it.runIf(existsSync(join(BIN, '../../dist/cli.js')))('works as the savevm binary with its exit code', async () => {
    const ok = await promisify(execFile)(process.execPath, [BIN, 'inspect', `${FIXTURES}none-running.mig`, '--json']);
    expect(JSON.parse(ok.stdout).records).toHaveLength(8);
    const dir = mkdtempSync(join(tmpdir(), 'savevm-cli-'));
    try {
      writeFileSync(join(dir, 'cut.mig'), readFileSync(`${FIXTURES}none-running.mig`).subarray(0, 100));
      const failed = await promisify(execFile)(process.execPath, [BIN, 'inspect', join(dir, 'cut.mig')]).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toContain('byte offset 100');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
