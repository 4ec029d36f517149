// util.mjs — small helpers shared by the kernel-lane host scripts: logging, running a command
// (streaming its output to a log file), checking Debian packages, the cache directory.
import { spawn, execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Prints one lane line on stderr-free stdout, prefixed so it stands out in CI logs. */
export function log(message) {
  process.stdout.write(`[kernel-lane] ${message}\n`);
}

/** A lane failure: the message is printed as is, and the lane exits non-zero. */
export class LaneError extends Error {}

/**
 * Runs a command to completion. Output goes to `logFile` (appended) when given, else is
 * inherited. Rejects with a LaneError naming the command and the log on a non-zero exit.
 */
export function run(cmd, args, { cwd, env, logFile } = {}) {
  return new Promise((resolve, reject) => {
    const out = logFile ? createWriteStream(logFile, { flags: 'a' }) : null;
    const child = spawn(cmd, args, {
      cwd,
      env: env ?? process.env,
      stdio: out ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    });
    if (out) {
      out.write(`\n$ ${cmd} ${args.join(' ')}\n`);
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(out, { end: false });
    }
    child.on('error', (err) => reject(new LaneError(`cannot run ${cmd}: ${err.message}`)));
    child.on('close', (code, signal) => {
      const finish = () => {
        if (code === 0) resolve();
        else {
          const where = logFile ? ` (see ${logFile})` : '';
          reject(new LaneError(`${cmd} ${args.join(' ')} failed with ${signal ?? `exit code ${code}`}${where}`));
        }
      };
      if (out) out.end(finish);
      else finish();
    });
  });
}

/** Runs a command and returns its stdout as a string (throws on failure). */
export function capture(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
}

/** The Debian packages the lane needs (also the list in install-deps.sh). */
export const DEBIAN_PACKAGES = [
  'linux-source-6.12', 'qemu-system-x86', 'busybox-static', 'build-essential', 'bc', 'flex',
  'bison', 'libelf-dev', 'libssl-dev', 'cpio', 'xz-utils',
];

/** Returns the installed version of a Debian package, or null when it is not installed. */
export function debianVersion(pkg) {
  try {
    const out = capture('dpkg-query', ['-W', '-f=${Status}\t${Version}', pkg], { stdio: ['ignore', 'pipe', 'ignore'] });
    const [status, version] = out.split('\t');
    return status === 'install ok installed' ? version : null;
  } catch {
    return null;
  }
}

/** Throws a LaneError listing every missing package and how to install them. */
export function checkDebianPackages() {
  const missing = DEBIAN_PACKAGES.filter((p) => debianVersion(p) === null);
  if (missing.length > 0) {
    throw new LaneError(
      `missing Debian packages: ${missing.join(' ')}\n` +
        `  install them with: test/kernel/install-deps.sh   (or: apt-get install -y ${missing.join(' ')})`,
    );
  }
}

/** The lane's cache root, outside the repository: ${XDG_CACHE_HOME:-$HOME/.cache}/savevm. */
export function cacheRoot() {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'savevm');
}

/** Formats milliseconds as "123.4 s". */
export function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}
