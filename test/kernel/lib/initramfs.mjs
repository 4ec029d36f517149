// initramfs.mjs — builds the guest's initramfs (an uncompressed newc cpio): busybox-static and
// its applet links, the host's node binary with the shared libraries ldd lists, /init, and the
// BUILT project under /app (packages/*/dist + package.json, and only the runtime node_modules:
// the dependency closure of the workspace packages, koffi with its linux_x64 prebuilt only,
// @savevm/* as links to the packages), plus the guest test files (test/kernel/guest/**).
import { existsSync, lstatSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { CpioWriter } from './cpio.mjs';
import { LaneError, capture } from './util.mjs';

const BUSYBOX = '/bin/busybox';

/** Files under node_modules and dist that the runtime needs (by name); everything else is left out. */
const RUNTIME_FILE = /\.(js|cjs|mjs|json|node)$/;
const TYPES_FILE = /\.d\.(ts|mts|cts)$/;
/** Directories of dependencies never needed at run time. */
const SKIP_DIRS = new Map([
  ['koffi', new Set(['vendor', 'doc', 'lib'])],
  ['@koromix/koffi-linux-x64', new Set(['musl_x64'])],
]);

/** Shared libraries an ELF binary needs, from ldd: [{path, real}] (path as the loader wants it). */
export function sharedLibraries(binary) {
  const out = capture('ldd', [binary]);
  const libs = [];
  for (const line of out.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path) libs.push({ path, real: realpathSync(path) });
    else if (/not found/.test(line)) throw new LaneError(`ldd ${binary}: ${line.trim()}`);
  }
  return libs;
}

/** Collects (archive path → host file) pairs for a directory tree, filtered. */
function walk(hostDir, archiveDir, keep, skipDirs = new Set(), base = hostDir, out = []) {
  for (const entry of readdirSync(hostDir, { withFileTypes: true })) {
    const host = join(hostDir, entry.name);
    const rel = relative(base, host);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || skipDirs.has(rel)) continue;
      walk(host, join(archiveDir, entry.name), keep, skipDirs, base, out);
    } else if ((entry.isFile() || entry.isSymbolicLink()) && keep(entry.name, rel)) {
      out.push({ archive: join(archiveDir, entry.name), host });
    }
  }
  return out;
}

/** Finds the directory of package `name` as Node would resolve it from `fromDir` (up to `root`). */
function resolvePackageDir(name, fromDir, root) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dir === dirname(dir)) return undefined;
  }
}

/**
 * The project's runtime file set: workspace packages under packages/ (dist + package.json), the
 * closure of their dependencies, @savevm/* links, and the guest tests. Returns
 * { files: [{archive, host}], links: [{archive, target}], packages: [names], deps: [names] }.
 */
export function projectFiles(repoRoot) {
  const rootPkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  const workspaces = (rootPkg.workspaces ?? []).filter((w) => w.startsWith('packages/'));
  const files = [{ archive: '/app/package.json', host: join(repoRoot, 'package.json') }];
  const links = [];
  const packages = [];
  const queue = [];
  for (const ws of workspaces) {
    const dir = join(repoRoot, ws);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const dist = join(dir, 'dist');
    if (!existsSync(join(dist, 'index.js'))) {
      throw new LaneError(`${ws}/dist/index.js is missing: build the project first (npm run build)`);
    }
    packages.push(pkg.name);
    files.push({ archive: `/app/${ws}/package.json`, host: join(dir, 'package.json') });
    files.push(...walk(dist, `/app/${ws}/dist`, (name) => RUNTIME_FILE.test(name) && !TYPES_FILE.test(name)));
    links.push({ archive: `/app/node_modules/${pkg.name}`, target: relative(join(repoRoot, 'node_modules', dirname(pkg.name)), dir) });
    for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, from: dir });
  }
  const workspaceNames = new Set(packages);
  const seen = new Set();
  const deps = [];
  while (queue.length > 0) {
    const { name, from, optional } = queue.shift();
    if (workspaceNames.has(name)) continue;
    const dir = resolvePackageDir(name, from, repoRoot);
    if (dir === undefined) {
      if (optional) continue;
      throw new LaneError(`runtime dependency ${name} (needed by ${relative(repoRoot, from) || '.'}) is not installed: run npm ci`);
    }
    const real = realpathSync(dir);
    if (seen.has(real)) continue;
    seen.add(real);
    deps.push(name);
    const archiveDir = `/app/${relative(repoRoot, dir)}`;
    files.push(...walk(real, archiveDir, (n) => RUNTIME_FILE.test(n) && !TYPES_FILE.test(n), SKIP_DIRS.get(name)));
    const pkg = JSON.parse(readFileSync(join(real, 'package.json'), 'utf8'));
    for (const d of Object.keys(pkg.dependencies ?? {})) queue.push({ name: d, from: real });
    for (const d of Object.keys(pkg.peerDependencies ?? {})) queue.push({ name: d, from: real, optional: true });
    // Optional dependencies are platform binaries (koffi's prebuilts): keep only those installed.
    for (const d of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ name: d, from: real, optional: true });
  }
  const guestDir = join(repoRoot, 'test/kernel/guest');
  files.push(...walk(guestDir, '/app/test/kernel/guest', (n) => /\.(mjs|js|json)$/.test(n)));
  return { files, links, packages, deps };
}

/**
 * Writes the initramfs to `outPath`. `initScript` is the text of /init. `extraFiles` are
 * in-memory files ({archive, data, mode}); `hostFiles` are copied from the host
 * ({archive, host, mode}; a path already written, such as a library node needs too, is not
 * written again). Returns statistics {bytes, entries, nodeBytes, projectBytes, hostBytes,
 * packages, deps}.
 */
export function buildInitramfs({ outPath, repoRoot, initScript, extraFiles = [], hostFiles = [] }) {
  if (!existsSync(BUSYBOX)) throw new LaneError(`${BUSYBOX} not found (install busybox-static)`);
  const nodeBinary = realpathSync(process.execPath);
  const libs = [...sharedLibraries(nodeBinary)];
  const project = projectFiles(repoRoot);
  for (const f of project.files) {
    if (f.host.endsWith('.node')) libs.push(...sharedLibraries(f.host));
  }

  const cpio = new CpioWriter(outPath);
  const dirs = new Set();
  const ensureDir = (dir) => {
    if (dir === '/' || dir === '' || dirs.has(dir)) return;
    ensureDir(dirname(dir));
    dirs.add(dir);
    cpio.dir(dir);
  };
  const written = new Set();
  const addFile = (archive, host, mode) => {
    written.add(archive);
    ensureDir(dirname(archive));
    const st = statSync(host);
    cpio.fileFrom(archive, host, st.size, mode ?? st.mode);
  };

  for (const d of ['/dev', '/proc', '/sys', '/tmp', '/run', '/etc', '/root', '/usr/bin', '/mnt']) ensureDir(d);
  cpio.charDevice('/dev/console', 5, 1);
  cpio.charDevice('/dev/null', 1, 3, 0o666);
  cpio.symlink('/sbin', 'bin');
  cpio.symlink('/usr/sbin', 'bin');

  // busybox and its applets
  ensureDir('/bin');
  addFile('/bin/busybox', BUSYBOX, 0o755);
  const applets = capture(BUSYBOX, ['--list']).split('\n').map((s) => s.trim()).filter((s) => s && s !== 'busybox');
  for (const applet of applets) cpio.symlink(`/bin/${applet}`, 'busybox');

  // node and its libraries
  let nodeBytes = statSync(nodeBinary).size;
  addFile('/usr/bin/node', nodeBinary, 0o755);
  const seenLibs = new Set();
  for (const lib of libs) {
    if (seenLibs.has(lib.path)) continue;
    seenLibs.add(lib.path);
    nodeBytes += statSync(lib.real).size;
    addFile(lib.path, lib.real, 0o755);
  }

  cpio.file('/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  cpio.file('/etc/group', 'root:x:0:\n');
  cpio.file('/init', initScript, 0o755);

  // the project
  const start = cpio.size;
  for (const f of project.files) addFile(f.archive, f.host);
  for (const l of project.links) {
    ensureDir(dirname(l.archive));
    cpio.symlink(l.archive, l.target);
  }
  for (const f of extraFiles) {
    ensureDir(dirname(f.archive));
    cpio.file(f.archive, f.data, f.mode ?? 0o644);
  }
  const projectBytes = cpio.size - start;
  const hostStart = cpio.size;
  for (const f of hostFiles) {
    if (written.has(f.archive)) continue;
    addFile(f.archive, f.host, f.mode);
  }
  const hostBytes = cpio.size - hostStart;
  cpio.finish();
  return {
    bytes: statSync(outPath).size,
    entries: cpio.entries,
    nodeBytes,
    projectBytes,
    hostBytes,
    packages: project.packages,
    deps: project.deps,
  };
}

/** Used by tests of the lane itself: whether a path is a symlink (for link checks). */
export function isSymlink(path) {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
