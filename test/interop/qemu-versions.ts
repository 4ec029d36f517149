/**
 * The QEMU binaries the interop tests know: 7.2 (Debian 12's `qemu-system-x86`, on `$PATH`)
 * and 10.0 (Debian's bookworm-backports build, unpacked into a cache by
 * `test/interop/qemu-versions/fetch-qemu-10.mjs`). `$SAVEVM_QEMU` names a binary that takes the
 * place of the one of its own version (read from `--version`).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The QEMU versions the interop tests run against, oldest first. */
export const QEMU_VERSIONS = ['7.2', '10.0'] as const;

/** A QEMU version the interop tests run against. */
export type QemuVersion = (typeof QEMU_VERSIONS)[number];

/** The QEMU binary the interop tests drive. */
export const QEMU_BINARY_NAME = 'qemu-system-x86_64';

/** The script that fetches QEMU 10.0 into the cache (relative to the repository root). */
export const FETCH_QEMU_10_SCRIPT = 'test/interop/qemu-versions/fetch-qemu-10.mjs';

/** How to get each version (the message of a skipped or, under CI, failed interop suite). */
export const QEMU_INSTALL_HINTS: Readonly<Record<QemuVersion, string>> = Object.freeze({
  '7.2': 'sudo apt-get install qemu-system-x86',
  '10.0': `node ${FETCH_QEMU_10_SCRIPT}`,
});

/** A QEMU binary found, with the version it reports. */
export interface QemuBinary {
  /** The version slot it fills. */
  readonly version: QemuVersion;
  /** The executable. */
  readonly path: string;
  /** The full upstream version it prints (`10.0.2`). */
  readonly release: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The cache root `fetch-qemu-10.mjs` fills: `$SAVEVM_QEMU_CACHE`, else `$XDG_CACHE_HOME/savevm`, else `~/.cache/savevm`. */
export function qemuCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SAVEVM_QEMU_CACHE) return env.SAVEVM_QEMU_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'savevm');
}

/** The upstream release a binary prints (`QEMU emulator version 10.0.2 (Debian …)`), or undefined. */
export function releaseOf(path: string): string | undefined {
  try {
    const out = execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    return /version (\d+\.\d+\.\d+)/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/** The version slot of a release (`10.0.2` → `10.0`), or undefined for one the tests do not know. */
export function versionOfRelease(release: string): QemuVersion | undefined {
  const minor = /^(\d+\.\d+)\./.exec(release)?.[1];
  return QEMU_VERSIONS.find((v) => v === minor);
}

/** The first `qemu-system-x86_64` on `$PATH`. */
function onPath(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, QEMU_BINARY_NAME);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The newest `qemu-10.0.x/bin/qemu-system-x86_64` in the cache. */
function inCache(env: NodeJS.ProcessEnv): string | undefined {
  const root = qemuCacheRoot(env);
  if (!existsSync(root)) return undefined;
  const dirs = readdirSync(root)
    .filter((d) => /^qemu-10\.0\.\d+$/.test(d))
    .sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]));
  for (const d of dirs.reverse()) {
    const candidate = join(root, d, 'bin', QEMU_BINARY_NAME);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Every known QEMU found: `$SAVEVM_QEMU` (in the slot of its version), the one on `$PATH`
 * and the cached 10.0; each candidate's version is read from its `--version`, so a binary
 * sits in the slot of the version it really is.
 */
export function findQemus(env: NodeJS.ProcessEnv = process.env): ReadonlyMap<QemuVersion, QemuBinary> {
  const found = new Map<QemuVersion, QemuBinary>();
  const override = env.SAVEVM_QEMU;
  const candidates = [override && isExecutable(override) ? override : undefined, onPath(env), inCache(env)];
  for (const path of candidates) {
    if (path === undefined) continue;
    const release = releaseOf(path);
    const version = release === undefined ? undefined : versionOfRelease(release);
    if (version === undefined || release === undefined || found.has(version)) continue;
    found.set(version, { version, path, release });
  }
  return found;
}

let memo: ReadonlyMap<QemuVersion, QemuBinary> | undefined;

/** {@link findQemus} for this process's environment, looked up once. */
export function knownQemus(): ReadonlyMap<QemuVersion, QemuBinary> {
  memo ??= findQemus();
  return memo;
}
