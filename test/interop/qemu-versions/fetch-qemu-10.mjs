#!/usr/bin/env node
// fetch-qemu-10.mjs — puts QEMU 10.0 (Debian's bookworm-backports build of qemu-system-x86)
// into a cache beside the machine's QEMU 7.2, without installing anything: the interop tests
// run against both. Called by .ci/run before `npm test`.
//
// What it does, once:
//   1. reads the Debian archive URI the machine's apt sources already name (/etc/apt/sources.list
//      and /etc/apt/sources.list.d/*.list|*.sources) and writes a private sources list with the
//      `<codename>` and `<codename>-backports` suites of that URI (the machine's apt configuration
//      and package lists are left alone);
//   2. `apt-get update` for that private list only;
//   3. takes the newest 1:10.0.x of qemu-system-x86 from the backports suite and walks its
//      dependencies: a dependency the machine has installed at a version that satisfies it is
//      used from the machine; one it lacks or has too old (QEMU 10.0 wants a newer seabios than
//      Debian 12's) is downloaded, at the newest version that satisfies it;
//   4. `apt-get download` + `dpkg -x` of those packages into the cache, and a wrapper
//      `bin/qemu-system-x86_64` that runs the unpacked binary with its own firmware (-L), its own
//      module directory and its own libraries first (LD_LIBRARY_PATH);
//   5. checks that the binary finds every library (ldd) and that `-M none`, `pc` and `q35` start.
//
// Cache: $SAVEVM_QEMU_CACHE, else $XDG_CACHE_HOME/savevm, else ~/.cache/savevm; QEMU 10.0.x lands in
// `<cache>/qemu-10.0.x/` (renamed into place when complete). With it there, a run does nothing
// but print where it is. Options: --print-cache-root (prints the cache root and exits).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Packages QEMU 10.0 depends on that `-M none|pc|q35 -nodefaults -display none` never uses. */
const NOT_NEEDED = new Map([
  ['qemu-system-common', 'helpers (bridge, pr) and optional modules (audio, USB, virtio-gpu, curses), none loaded here'],
  ['ipxe-qemu', 'network boot ROMs; -nodefaults creates no NIC'],
]);
const BINARY = 'qemu-system-x86_64';

/** The cache root (the interop harness computes the same path). */
function cacheRoot() {
  if (process.env.SAVEVM_QEMU_CACHE) return process.env.SAVEVM_QEMU_CACHE;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'savevm');
}

function log(message) {
  process.stdout.write(`fetch-qemu-10: ${message}\n`);
}

function fail(message) {
  process.stderr.write(`fetch-qemu-10: ${message}\n`);
  process.exit(1);
}

/** A QEMU 10.0 already in the cache: its directory, or undefined. */
function cachedQemu(root) {
  if (!existsSync(root)) return undefined;
  const dirs = readdirSync(root).filter((d) => /^qemu-10\.0\.\d+$/.test(d)).sort();
  const complete = dirs.filter((d) => existsSync(join(root, d, 'bin', BINARY)) && existsSync(join(root, d, 'debian-version')));
  return complete.length > 0 ? join(root, complete[complete.length - 1]) : undefined;
}

/** The machine's Debian codename (`bookworm`). */
function codename() {
  const text = readFileSync('/etc/os-release', 'utf8');
  const m = /^VERSION_CODENAME=(\S+)$/m.exec(text);
  if (!m) fail('no VERSION_CODENAME in /etc/os-release');
  return m[1].replace(/^"|"$/g, '');
}

/** Entries of the machine's apt sources: { uris, suites, components, signedBy }. */
function aptSources() {
  const entries = [];
  const files = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) for (const f of readdirSync(dir).sort()) if (/\.(list|sources)$/.test(f)) files.push(join(dir, f));
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const fields = {};
        let last;
        for (const line of stanza.split('\n')) {
          if (/^\s*#/.test(line) || line.trim() === '') continue;
          const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
          if (m) fields[(last = m[1].toLowerCase())] = m[2];
          else if (last && /^\s/.test(line)) fields[last] += ` ${line.trim()}`;
        }
        if (fields.enabled === 'no' || !(fields.types ?? '').split(/\s+/).includes('deb')) continue;
        entries.push({
          uris: (fields.uris ?? '').split(/\s+/).filter(Boolean),
          suites: (fields.suites ?? '').split(/\s+/).filter(Boolean),
          components: (fields.components ?? '').split(/\s+/).filter(Boolean),
          signedBy: fields['signed-by'],
        });
      }
    } else {
      for (const raw of text.split('\n')) {
        const line = raw.replace(/#.*$/, '').trim();
        const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line);
        if (!m) continue;
        const signed = /signed-by=(\S+)/.exec(m[1] ?? '');
        entries.push({ uris: [m[2]], suites: [m[3]], components: m[4].split(/\s+/), signedBy: signed?.[1] });
      }
    }
  }
  return entries;
}

/** The archive entry carrying `<codename>` main (not the security archive). */
function debianArchive(suite) {
  const entry = aptSources().find((e) => e.suites.includes(suite) && e.components.includes('main') && e.uris.length > 0);
  if (!entry) fail(`no apt source names the "${suite}" suite with "main" (read /etc/apt/sources.list and sources.list.d)`);
  return { uri: entry.uris[0], signedBy: entry.signedBy };
}

/** Runs a command, returning stdout; fails with its stderr. */
function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `dpkg --compare-versions a op b`. */
function versionSatisfies(version, op, wanted) {
  const dpkgOp = { '>=': 'ge', '<=': 'le', '>>': 'gt', '<<': 'lt', '=': 'eq' }[op];
  return spawnSync('dpkg', ['--compare-versions', version, dpkgOp, wanted]).status === 0;
}

/** The version of `name` installed on the machine, or undefined. */
function installedVersion(name) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}\t${Version}', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const [status, version] = r.stdout.split('\t');
  return status === 'install ok installed' ? version : undefined;
}

/** Parses a Depends field into groups of alternatives. */
function parseDepends(field) {
  if (!field) return [];
  return field.split(',').map((group) =>
    group.split('|').map((alt) => {
      const m = /^\s*([^\s(:]+)(?::\S+)?\s*(?:\(\s*(>=|<=|>>|<<|=)\s*([^)\s]+)\s*\))?/.exec(alt);
      return { name: m[1], op: m[2], version: m[3] };
    }),
  );
}

function main() {
  const root = cacheRoot();
  if (process.argv.includes('--print-cache-root')) {
    process.stdout.write(`${root}\n`);
    return;
  }
  const cached = cachedQemu(root);
  if (cached) {
    log(`QEMU ${readFileSync(join(cached, 'debian-version'), 'utf8').trim()} is cached in ${cached}; nothing to do`);
    return;
  }
  const started = Date.now();
  const suite = codename();
  const { uri, signedBy } = debianArchive(suite);
  mkdirSync(root, { recursive: true });
  const work = join(root, `.work-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  for (const d of ['lists/partial', 'cache/archives/partial', 'debs', 'tree']) mkdirSync(join(work, d), { recursive: true });
  try {
    const options = signedBy ? `[signed-by=${signedBy}] ` : '';
    writeFileSync(join(work, 'sources.list'), [suite, `${suite}-backports`].map((s) => `deb ${options}${uri} ${s} main\n`).join(''));
    const apt = [
      '-o', `Dir::Etc::SourceList=${join(work, 'sources.list')}`,
      '-o', 'Dir::Etc::SourceParts=/nonexistent',
      '-o', `Dir::State::Lists=${join(work, 'lists')}`,
      '-o', `Dir::Cache=${join(work, 'cache')}`,
      '-o', 'APT::Sandbox::User=root',
      '-o', 'Debug::NoLocking=1',
    ];
    log(`apt-get update for ${suite} and ${suite}-backports (private lists, the machine's own are untouched)`);
    run('apt-get', [...apt, '-qq', 'update']);

    const madison = (name) =>
      run('apt-cache', [...apt, 'madison', name])
        .split('\n')
        .map((l) => l.split('|').map((s) => s.trim()))
        .filter((p) => p.length >= 3 && p[0] === name)
        .map((p) => p[1]);
    const qemuVersion = madison('qemu-system-x86').find((v) => /^1:10\.0\.\d+/.test(v));
    if (!qemuVersion) fail(`${suite}-backports offers no qemu-system-x86 1:10.0.x`);
    const upstream = /^1:(10\.0\.\d+)/.exec(qemuVersion)[1];

    // Walk the dependencies: take from the machine what it has, download the rest.
    const plan = new Map([['qemu-system-x86', qemuVersion]]);
    const queue = ['qemu-system-x86'];
    const fromMachine = [];
    while (queue.length > 0) {
      const name = queue.shift();
      const show = run('apt-cache', [...apt, 'show', `${name}=${plan.get(name)}`]);
      const stanza = show.split(/\n\n/)[0];
      const fieldOf = (key) => new RegExp(`^${key}: (.*)$`, 'm').exec(stanza)?.[1];
      for (const group of [...parseDepends(fieldOf('Pre-Depends')), ...parseDepends(fieldOf('Depends'))]) {
        const ok = (alt, version) => version !== undefined && (!alt.op || versionSatisfies(version, alt.op, alt.version));
        if (group.some((alt) => NOT_NEEDED.has(alt.name))) continue;
        if (group.some((alt) => ok(alt, plan.get(alt.name)))) continue;
        const installed = group.find((alt) => ok(alt, installedVersion(alt.name)));
        if (installed) {
          fromMachine.push(installed.name);
          continue;
        }
        let picked;
        for (const alt of group) {
          const version = madison(alt.name).find((v) => ok(alt, v));
          if (version) {
            picked = [alt.name, version];
            break;
          }
        }
        if (!picked) fail(`nothing satisfies "${group.map((a) => `${a.name} ${a.op ?? ''} ${a.version ?? ''}`).join(' | ')}" (needed by ${name})`);
        plan.set(picked[0], picked[1]);
        queue.push(picked[0]);
      }
    }
    const wanted = [...plan].map(([n, v]) => `${n}=${v}`);
    log(`downloading ${wanted.join(' ')} (${fromMachine.length} dependencies are the machine's own)`);
    run('apt-get', [...apt, '-qq', 'download', ...wanted], { cwd: join(work, 'debs') });
    const tree = join(work, 'tree');
    const unpacked = join(tree, 'root');
    for (const deb of readdirSync(join(work, 'debs'))) run('dpkg', ['-x', join(work, 'debs', deb), unpacked]);

    // The wrapper: the unpacked binary with its firmware, modules and libraries.
    mkdirSync(join(tree, 'bin'));
    const wrapper = join(tree, 'bin', BINARY);
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        `# QEMU ${qemuVersion} unpacked by fetch-qemu-10.mjs: its own firmware (-L), modules and libraries.`,
        'here=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)',
        'r="$here/root"',
        'export QEMU_MODULE_DIR="$r/usr/lib/x86_64-linux-gnu/qemu"',
        'export LD_LIBRARY_PATH="$r/usr/lib/x86_64-linux-gnu:$r/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"',
        `exec "$r/usr/bin/${BINARY}" -L "$r/usr/share/qemu" -L "$r/usr/share/seabios" "$@"`,
        '',
      ].join('\n'),
    );
    chmodSync(wrapper, 0o755);

    // Every library found, and the three machine types start with their firmware.
    const libPath = [join(unpacked, 'usr/lib/x86_64-linux-gnu'), join(unpacked, 'lib/x86_64-linux-gnu')].join(':');
    const ldd = run('ldd', [join(unpacked, 'usr/bin', BINARY)], { env: { ...process.env, LD_LIBRARY_PATH: libPath } });
    const missing = ldd.split('\n').filter((l) => l.includes('not found'));
    if (missing.length > 0) fail(`libraries not found:\n${missing.join('\n')}`);
    const version = run(wrapper, ['--version']).split('\n')[0];
    if (!version.includes(`version ${upstream}`)) fail(`unexpected ${BINARY} --version: ${version}`);
    for (const machine of ['none', 'pc', 'q35']) {
      const qmp = '{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n{"execute":"quit"}\n';
      const out = execFileSync(wrapper, ['-M', machine, '-nodefaults', '-display', 'none', '-accel', 'tcg', '-S', '-qmp', 'stdio'], {
        input: qmp,
        encoding: 'utf8',
        timeout: 30_000,
      });
      if (!out.includes('"prelaunch"')) fail(`-M ${machine} did not start:\n${out}`);
    }

    writeFileSync(join(tree, 'debian-version'), `${qemuVersion}\n`);
    writeFileSync(join(tree, 'packages'), `${wanted.join('\n')}\n`);
    const dest = join(root, `qemu-${upstream}`);
    rmSync(dest, { recursive: true, force: true });
    renameSync(tree, dest);
    log(`QEMU ${qemuVersion} is in ${dest} (fetched in ${((Date.now() - started) / 1000).toFixed(1)} s); run it as ${join(dest, 'bin', BINARY)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
