// qemu10.mjs — finds the QEMU 10.0 that test/interop/qemu-versions/fetch-qemu-10.mjs unpacked
// into its cache (the same lookup as test/interop/qemu-versions.ts: $SAVEVM_QEMU_CACHE, else
// $XDG_CACHE_HOME/savevm, else ~/.cache/savevm; the newest complete qemu-10.0.x) and lists what
// the guest needs to run it (docs/design/qemu-versions.md, "A VFIO device between QEMU 10.0 and
// savevm"): the real binary (not the cache's wrapper script), the shared libraries ldd names with
// the wrapper's library path, and the firmware a `-M pc -nodefaults` machine loads.
import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { capture, LaneError } from './util.mjs';

/** Where the guest finds QEMU 10.0 (the manifest says what is there). */
export const GUEST_QEMU10_DIR = '/opt/qemu10';
/** The manifest the guest tests read: { release, debianVersion, binary, firmwareDir, libDir }. */
export const GUEST_QEMU10_MANIFEST = `${GUEST_QEMU10_DIR}/manifest.json`;
/** The script that fills the cache. */
export const FETCH_QEMU10 = 'node test/interop/qemu-versions/fetch-qemu-10.mjs';

/** Firmware `-M pc -nodefaults -S` asks for (the BIOS, and the option ROMs the pc machine registers). */
const FIRMWARE = [
  ['usr/share/seabios', 'bios-256k.bin'],
  ['usr/share/qemu', 'kvmvapic.bin'],
  ['usr/share/qemu', 'linuxboot_dma.bin'],
  ['usr/share/qemu', 'multiboot_dma.bin'],
];

function cacheRoot(env = process.env) {
  if (env.SAVEVM_QEMU_CACHE) return env.SAVEVM_QEMU_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'savevm');
}

/**
 * The cached QEMU 10.0, or undefined: { dir, release, debianVersion, binary, libraryPath }.
 * `binary` is the unpacked executable; `libraryPath` the wrapper's LD_LIBRARY_PATH.
 */
export function findCachedQemu10(env = process.env) {
  const root = cacheRoot(env);
  if (!existsSync(root)) return undefined;
  const dirs = readdirSync(root)
    .filter((d) => /^qemu-10\.0\.\d+$/.test(d))
    .sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]))
    .reverse();
  for (const d of dirs) {
    const dir = join(root, d);
    const binary = join(dir, 'root/usr/bin/qemu-system-x86_64');
    if (!existsSync(binary) || !existsSync(join(dir, 'debian-version'))) continue;
    const libraryPath = [join(dir, 'root/usr/lib/x86_64-linux-gnu'), join(dir, 'root/lib/x86_64-linux-gnu')].join(':');
    return {
      dir,
      release: d.slice('qemu-'.length),
      debianVersion: readFileSync(join(dir, 'debian-version'), 'utf8').trim(),
      binary,
      libraryPath,
    };
  }
  return undefined;
}

/**
 * What the initramfs carries for QEMU 10.0: { files: [{archive, host, mode}], manifest, bytes }.
 * Libraries ldd finds inside the cache go to /opt/qemu10/lib (the guest's LD_LIBRARY_PATH); the
 * machine's own go where ldd names them, as node's do.
 */
export function qemu10Files(qemu) {
  const out = capture('ldd', [qemu.binary], { env: { ...process.env, LD_LIBRARY_PATH: qemu.libraryPath } });
  const files = [{ archive: `${GUEST_QEMU10_DIR}/bin/qemu-system-x86_64`, host: qemu.binary, mode: 0o755 }];
  let libraries = 0;
  for (const line of out.split('\n')) {
    if (/not found/.test(line)) throw new LaneError(`ldd ${qemu.binary}: ${line.trim()} (re-run ${FETCH_QEMU10})`);
    const path = /=>\s+(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
    if (!path) continue;
    const real = realpathSync(path);
    const archive = path.startsWith(qemu.dir) ? `${GUEST_QEMU10_DIR}/lib/${basename(path)}` : path;
    files.push({ archive, host: real, mode: 0o755 });
    libraries++;
  }
  for (const [sub, name] of FIRMWARE) {
    const host = join(qemu.dir, 'root', sub, name);
    if (!existsSync(host)) throw new LaneError(`QEMU 10.0 firmware ${host} is missing (re-run ${FETCH_QEMU10})`);
    files.push({ archive: `${GUEST_QEMU10_DIR}/share/${name}`, host: realpathSync(host), mode: 0o644 });
  }
  const manifest = {
    release: qemu.release,
    debianVersion: qemu.debianVersion,
    binary: `${GUEST_QEMU10_DIR}/bin/qemu-system-x86_64`,
    firmwareDir: `${GUEST_QEMU10_DIR}/share`,
    libDir: `${GUEST_QEMU10_DIR}/lib`,
    libraries,
  };
  return { files, manifest };
}
