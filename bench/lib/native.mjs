// Native helpers shared by the benchmarks (not a benchmark: run.mjs only runs bench/*.mjs).
// - alignedBuffer(): a page-aligned Buffer. Large Node Buffers are malloc memory at
//   page+16, and the kernel copies 2.5–4× slower into such a destination on this machine
//   (bench/README.md, "Data-path limits"), so bulk buffers must be aligned.
// - makePipe(): a pipe(2) whose capacity is raised to 1 MiB, with plain fds usable by
//   fs.*Sync and by child processes.
// - pinToCpu(): pins this whole process (all threads; children inherit it) to one CPU.
// - buildC(): compiles a helper C program into bench/.build/ (gitignored) when stale.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

const here = path.dirname(fileURLToPath(import.meta.url));
export const benchDir = path.dirname(here);
export const buildDir = path.join(benchDir, '.build');

const libc = koffi.load('libc.so.6');
const memcpy = libc.func('void *memcpy(void *, void *, size_t)');
const pipe2 = libc.func('int pipe2(_Out_ int *fds, int flags)');
const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
const F_SETPIPE_SZ = 1031;
const O_CLOEXEC = 0o2000000;

/** The address of a Buffer's first byte. */
export function addressOf(buf) {
  return Number(koffi.address(memcpy(buf, buf, 0)));
}

/** A `size`-byte Buffer starting on a `align`-byte boundary (over-allocates and slices). */
export function alignedBuffer(size, align = 4096) {
  const raw = Buffer.allocUnsafeSlow(size + align);
  const skew = addressOf(raw) % align;
  const buf = raw.subarray(skew === 0 ? 0 : align - skew, (skew === 0 ? 0 : align - skew) + size);
  if (addressOf(buf) % align !== 0) throw new Error('alignedBuffer: alignment failed');
  return buf;
}

/**
 * A pipe with the given capacity (default 1 MiB, the usual /proc/sys/fs/pipe-max-size).
 * Both ends are O_CLOEXEC; pass them to children through `stdio` (which dup2s them).
 */
export function makePipe(capacity = 1 << 20) {
  const fds = [0, 0];
  if (pipe2(fds, O_CLOEXEC) !== 0) throw new Error(`pipe2 failed: errno ${koffi.errno()}`);
  const [readFd, writeFd] = fds;
  if (capacity && fcntl(writeFd, F_SETPIPE_SZ, capacity) < 0) {
    throw new Error(`F_SETPIPE_SZ ${capacity} failed: errno ${koffi.errno()}`);
  }
  return { readFd, writeFd };
}

/** Pins every thread of this process (and future children) to `cpu` with taskset. */
export function pinToCpu(cpu) {
  execFileSync('taskset', ['-a', '-c', '-p', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

/** The CPU list this process may run on (from /proc/self/status). */
export function allowedCpus() {
  const m = /Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? m[1] : '?';
}

/**
 * Compiles bench/lib/NAME.c (or the .c file at `srcPath`) into bench/.build/NAME, only when
 * missing or stale; returns the binary's path.
 */
export function buildC(name, srcPath = path.join(here, `${name}.c`)) {
  const src = srcPath;
  const out = path.join(buildDir, name);
  fs.mkdirSync(buildDir, { recursive: true });
  const stale = !fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(src).mtimeMs;
  if (stale) execFileSync('gcc', ['-O2', '-Wall', '-o', out, src], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

const timeval = koffi.struct('bench_timeval', { tv_sec: 'long', tv_usec: 'long' });
const rusage = koffi.struct('bench_rusage', {
  ru_utime: timeval,
  ru_stime: timeval,
  ru_rest: koffi.array('long', 14),
});
const getrusage = libc.func('int getrusage(int who, _Out_ bench_rusage *usage)');
const RUSAGE_CHILDREN = -1;

/**
 * CPU seconds (user + system) used so far by this process (all threads) plus its children
 * that have exited and been reaped. The difference over a run is the CPU the whole
 * pipeline used, which other load on the machine barely changes (unlike wall time).
 */
export function cpuSeconds() {
  const self = process.cpuUsage();
  const ru = {};
  if (getrusage(RUSAGE_CHILDREN, ru) !== 0) throw new Error(`getrusage failed: errno ${koffi.errno()}`);
  const children = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return (self.user + self.system) / 1e6 + children;
}
