/**
 * An `exec:` command's exit status on either side, through the CLI (issue 17 items 6 and 9;
 * docs/design/return-path.md): a source whose consumer exits 5 after reading the whole
 * stream fails, its devices run again, and the summary names the error; a destination
 * whose source command exits 3 after sending the whole stream completes, its state check
 * passed, and warns about the exit status in the summary and on stderr.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, summaryOf } from './helpers/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-exec-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DEVICES = ['--device', 'emulated:nic0,size=256K,flags=stop-copy|p2p|pre-copy,dirty-rate=64K,seed=3', '--device', 'emulated:gpu0,size=128K,seed=9'];

describe('exec: exit status', () => {
  it("source: exec:'cat >/dev/null; exit 5' fails, every device runs again with its state, the summary names the error", async () => {
    const run = runCli(['migrate', 'exec:cat >/dev/null; exit 5', ...DEVICES]);
    expect(await run.code).toBe(1);
    const summary = summaryOf(run);
    expect(summary.status).toBe('failed');
    expect(summary.error).toMatch(/the command exited with status 5/);
    expect(summary.devices).toHaveLength(2);
    for (const device of summary.devices) expect(device).toMatchObject({ deviceState: 'RUNNING', intact: true });
    expect(run.records().find((r) => r.event === 'error')).toMatchObject({ phase: 'exec', reason: 'CONNECT_FAILED' });
    expect(run.stderr()).toMatch(/^savevm migrate: FAILED \(transport exec:cat >\/dev\/null; exit 5, phase exec\): the command exited with status 5\n$/);
  });

  it('destination: a source command that exits 3 after the whole stream: completed, checked, one warning on stderr and in the summary', async () => {
    const path = join(dir, 'vm.mig');
    const save = runCli(['migrate', `file:${path}`, ...DEVICES]);
    expect(await save.code).toBe(0);
    const restore = runCli(['incoming', `exec:cat ${path}; exit 3`, ...DEVICES]);
    expect(await restore.code).toBe(0);
    const summary = summaryOf(restore);
    expect(summary.status).toBe('completed');
    expect(summary.error).toBeNull();
    expect(summary.devices.every((d) => d.verified === true)).toBe(true);
    const warning = `exec:cat ${path}; exit 3: exec: the source command exited with status 3 after sending the whole stream; the load is complete`;
    expect(summary.warnings).toEqual([warning]);
    expect(restore.stderr()).toBe(`savevm incoming: warning: ${warning}\n`);
    expect(restore.records().filter((r) => r.event === 'warning')).toEqual([{ event: 'warning', message: warning }]);
  });
});
