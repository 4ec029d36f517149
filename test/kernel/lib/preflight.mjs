// preflight.mjs — before booting, checks on the host that the pruned runtime tree the initramfs
// will carry actually loads: it copies the project files (as projectFiles() selects them) into a
// temporary /app, then, in a child node, imports every workspace package and loads koffi's
// native binary from there. A pruning mistake fails here in a second, with node's own message,
// instead of as guest test failures.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { projectFiles } from './initramfs.mjs';
import { LaneError } from './util.mjs';

export function checkRuntimeTree(repoRoot) {
  const root = mkdtempSync(join(tmpdir(), 'savevm-lane-preflight-'));
  try {
    const { files, links, packages } = projectFiles(repoRoot);
    for (const f of files) {
      const dest = join(root, f.archive);
      mkdirSync(dirname(dest), { recursive: true });
      copyFileSync(f.host, dest);
    }
    for (const l of links) {
      const dest = join(root, l.archive);
      mkdirSync(dirname(dest), { recursive: true });
      symlinkSync(l.target, dest);
    }
    const script = [
      "import { createRequire } from 'node:module';",
      ...packages.map((p) => `await import(${JSON.stringify(p)});`),
      "const koffi = createRequire(process.cwd() + '/packages/vfio/dist/index.js')('koffi');",
      "koffi.load('libc.so.6');",
    ].join('\n');
    try {
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(root, 'app'), stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      throw new LaneError(`the runtime tree for the guest does not load:\n${error.stderr?.toString() ?? error.message}`);
    }
    return packages;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
