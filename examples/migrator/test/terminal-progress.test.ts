/**
 * On a pseudo-terminal (tmux), `savevm migrate` draws a progress bar and prints the text
 * summary instead of JSON lines. Skipped without tmux (except under CI=true).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
if (!hasTmux && process.env.CI === 'true') throw new Error('tmux is needed for the terminal test under CI');
const BIN = join(dirname(fileURLToPath(import.meta.url)), '../bin/savevm.js');

function tmux(...args: string[]): string {
  return spawnSync('tmux', args, { encoding: 'utf8' }).stdout;
}

describe.skipIf(!hasTmux)('progress on a terminal', () => {
  it('draws a bar with sent / left, throughput, iteration, expected downtime, then the summary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'savevm-tty-'));
    const session = `savevm-tty-${process.pid}`;
    try {
      tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50');
      const cmd = `node ${BIN} migrate file:${dir}/s.mig --max-bandwidth 16M --avail-switchover-bandwidth 1G --device emulated:a,size=6M,flags=stop-copy+pre-copy; echo EXIT=$?`;
      tmux('send-keys', '-t', session, cmd, 'Enter');
      let screen = '';
      let sawBar = false;
      for (let i = 0; i < 100 && !/EXIT=\d/.test(screen); i++) {
        await new Promise((r) => setTimeout(r, 50));
        screen = tmux('capture-pane', '-p', '-t', session);
        sawBar ||= /\|[█░]+\| +\d+% \| .* sent, .* left \| .*bit\/s \| iter \d+ \| exp\. downtime/.test(screen);
      }
      expect(screen).toMatch(/EXIT=0/);
      expect(sawBar || /\| 100% \|/.test(screen)).toBe(true);
      expect(screen).toMatch(/migration COMPLETED over file:/);
      expect(screen).toMatch(/emulated:a +6\.\d+ MiB, via vfio-v2, now STOP, sha256 [0-9a-f]{16}…, bytes intact/);
      expect(screen).not.toMatch(/"event"/);
    } finally {
      tmux('kill-session', '-t', session);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
