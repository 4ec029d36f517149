// kernel.mjs — builds (or finds in the cache) the lane's bzImage: Debian's linux-source-6.12
// configured with `make allnoconfig KCONFIG_ALLCONFIG=test/kernel/kernel.config`, every
// requested "=y" verified, then `make -j<cpus> bzImage`. The result is cached under
// <cache>/kernel/<sha256(fragment + source package version + recipe version)>/bzImage, so a
// second run on the same machine skips the ~10 minute build.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { LaneError, cacheRoot, debianVersion, log, run, seconds } from './util.mjs';

/** Bump when the build recipe changes in a way that changes the bzImage. */
const RECIPE_VERSION = '1';
const SOURCE_TARBALL = '/usr/src/linux-source-6.12.tar.xz';
const SOURCE_PACKAGE = 'linux-source-6.12';

/** Parses a fragment into the options that must be `y` and those that must be off. */
export function parseFragment(text) {
  const wantY = [];
  const wantOff = [];
  for (const line of text.split('\n')) {
    const y = /^(CONFIG_[A-Za-z0-9_]+)=y\s*$/.exec(line);
    if (y) wantY.push(y[1]);
    const off = /^# (CONFIG_[A-Za-z0-9_]+) is not set\s*$/.exec(line);
    if (off) wantOff.push(off[1]);
  }
  return { wantY, wantOff };
}

/** Returns the options of the fragment that the resolved .config did not keep. */
export function missingOptions(fragmentText, dotConfigText) {
  const { wantY, wantOff } = parseFragment(fragmentText);
  const set = new Set(dotConfigText.split('\n'));
  const lost = wantY.filter((o) => !set.has(`${o}=y`)).map((o) => `${o}=y`);
  const on = wantOff.filter((o) => set.has(`${o}=y`)).map((o) => `${o} (should be off)`);
  return [...lost, ...on];
}

/** A fragment's CONFIG lines, trimmed, one per line: what the kernel depends on (comments and blank lines do not). */
function configLines(fragment) {
  return fragment
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .join('\n');
}

/** The cache key and directory for a fragment (its CONFIG lines, the kernel source's version, the recipe). */
export function kernelCacheDir(fragmentPath) {
  const version = debianVersion(SOURCE_PACKAGE);
  if (!version) throw new LaneError(`${SOURCE_PACKAGE} is not installed`);
  const hash = createHash('sha256')
    .update(configLines(readFileSync(fragmentPath, 'utf8')))
    .update(`\0${SOURCE_PACKAGE}=${version}\0recipe=${RECIPE_VERSION}`)
    .digest('hex');
  return { dir: join(cacheRoot(), 'kernel', hash), hash, version };
}

/**
 * Returns the path of a bzImage built from `fragmentPath`, building it when the cache has none.
 * Reports {bzImage, cached, buildMs}.
 */
export async function ensureKernel(fragmentPath, { rebuild = false } = {}) {
  const { dir, hash, version } = kernelCacheDir(fragmentPath);
  const bzImage = join(dir, 'bzImage');
  if (!rebuild && existsSync(bzImage)) {
    log(`kernel: cached ${bzImage} (${SOURCE_PACKAGE} ${version}, key ${hash.slice(0, 12)})`);
    return { bzImage, cached: true, buildMs: 0 };
  }
  if (!existsSync(SOURCE_TARBALL)) throw new LaneError(`${SOURCE_TARBALL} not found (install ${SOURCE_PACKAGE})`);
  mkdirSync(dir, { recursive: true });
  const buildLog = join(dir, 'build.log');
  writeFileSync(buildLog, `kernel build ${new Date().toISOString()} key ${hash}\n`);
  const tree = join(dir, 'src');
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  const jobs = availableParallelism();
  log(`kernel: no cached kernel for key ${hash.slice(0, 12)}; building (${SOURCE_PACKAGE} ${version}, -j${jobs}); log: ${buildLog}`);
  const t0 = Date.now();

  await run('tar', ['-xf', SOURCE_TARBALL, '-C', tree, '--strip-components=1'], { logFile: buildLog });
  log(`kernel: unpacked in ${seconds(Date.now() - t0)}`);

  const fragmentCopy = join(dir, 'kernel.config');
  copyFileSync(fragmentPath, fragmentCopy);
  await run('make', ['allnoconfig', `KCONFIG_ALLCONFIG=${fragmentCopy}`], { cwd: tree, logFile: buildLog });
  const dotConfig = readFileSync(join(tree, '.config'), 'utf8');
  copyFileSync(join(tree, '.config'), join(dir, 'config'));
  const lost = missingOptions(readFileSync(fragmentPath, 'utf8'), dotConfig);
  if (lost.length > 0) {
    throw new LaneError(`kernel: Kconfig dropped requested options (unmet dependencies?): ${lost.join(', ')}\n  resolved config: ${join(dir, 'config')}`);
  }
  const ySet = dotConfig.split('\n').filter((l) => /^CONFIG_\w+=y$/.test(l)).length;
  log(`kernel: configured, every requested option survived (${ySet} options =y)`);

  const tMake = Date.now();
  await run('make', [`-j${jobs}`, 'bzImage'], { cwd: tree, logFile: buildLog });
  const built = join(tree, 'arch/x86/boot/bzImage');
  copyFileSync(built, `${bzImage}.tmp`);
  renameSync(`${bzImage}.tmp`, bzImage);
  const buildMs = Date.now() - t0;
  log(`kernel: built ${bzImage} (${(statSync(bzImage).size / 1e6).toFixed(2)} MB); make bzImage ${seconds(Date.now() - tMake)}, total build time ${seconds(buildMs)}`);
  writeFileSync(join(dir, 'build-time.txt'), `${buildMs}\n`);
  if (!process.env.SAVEVM_KEEP_KERNEL_TREE) rmSync(tree, { recursive: true, force: true });
  return { bzImage, cached: false, buildMs };
}
