/**
 * Captures the QEMU-produced vectors of one version into test/fixtures/qemu-<version>/ with
 * the recipe of the 7.2 ones: `-nodefaults -display none -accel tcg`, `-S`, QMP `migrate`
 * to `exec:cat > FILE`; `-machine none`, and `pc` and `q35` with `-m 16`; paused, or running
 * for about a second first. Each stream gets its `.sections.txt` from list-sections.py.
 *
 * Run: npx tsx --conditions=@savevm/source test/interop/qemu-versions/capture-fixtures.ts 10.0
 * (a third argument, e.g. `q35`, captures only that machine's pair: how the 7.2 q35 ones were added).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { saveStream } from '../qemu-harness.js';
import { QEMU_VERSIONS, type QemuVersion } from '../qemu-versions.js';

const version = process.argv[2] as QemuVersion;
if (!QEMU_VERSIONS.includes(version)) throw new Error(`usage: capture-fixtures.ts ${QEMU_VERSIONS.join('|')}`);
const dir = fileURLToPath(new URL(`../../fixtures/qemu-${version}/`, import.meta.url));
const lister = fileURLToPath(new URL('./list-sections.py', import.meta.url));
mkdirSync(dir, { recursive: true });

const machines = [
  ['none', undefined],
  ['pc', 16],
  ['q35', 16],
] as const;
const only = process.argv[3];
for (const [machine, memoryMiB] of machines) {
  if (only !== undefined && machine !== only) continue;
  for (const running of [false, true]) {
    const name = `${machine}-${running ? 'running' : 'paused'}`;
    const bytes = await saveStream({
      machine,
      running,
      qemu: version,
      timeoutMs: 30_000,
      ...(running ? { runForMs: 1000 } : {}),
      ...(memoryMiB === undefined ? {} : { memoryMiB }),
    });
    writeFileSync(`${dir}${name}.mig`, bytes);
    writeFileSync(`${dir}${name}.sections.txt`, execFileSync('python3', [lister, `${dir}${name}.mig`], { encoding: 'utf8' }));
    process.stdout.write(`${name}.mig: ${bytes.length} bytes\n`);
  }
}
