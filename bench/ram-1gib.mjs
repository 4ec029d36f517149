// ram-1gib: 1 GiB (BENCH_BYTES) of guest RAM — fixed content, every fourth page zero, the rest
// pseudo-random — saved and loaded by @savevm/ram through the whole core drivers, against
// QEMU 7.2 `-M none -m 1G` with the same content, in the same run.
//
// - ram.save-1GiB: savevm — a paused VM with QEMU's `-M none` entries (timer, `ram` with one
//   block "ram" holding the content, globalstate), MigrationSource into a QemuFileWriter over a sync FdChannel on a 64 KiB pipe
//   drained by `cat > /dev/null`; timed from spawning cat + migrate() to `completed`.
//   QEMU — started paused with `-device loader,file=CONTENT,addr=0,force-raw=on`, events on,
//   max-bandwidth raised so no rate limit applies; timed from sending QMP `migrate` with
//   `exec:cat > /dev/null` (QEMU's own 64 KiB pipe) to the MIGRATION `completed` event.
// - ram.load-1GiB: the stream savevm wrote (once, untimed, to /dev/shm), loaded by savevm —
//   `cat STREAM` into a 64 KiB pipe, MigrationDestination with the RAM handlers writing into a
//   fresh block (its pages dropped with madvise(MADV_DONTNEED) before every run, so both sides
//   fault fresh zero pages in; both blocks are 2 MiB-aligned with MADV_HUGEPAGE, as QEMU
//   allocates its guest RAM) — vs QEMU `-M none -m 1G -S -incoming defer` and QMP
//   `migrate-incoming exec:cat STREAM`, to the MIGRATION `completed` event.
// - GB/s = content bytes (not stream bytes) per second; ratio = savevm GB/s ÷ QEMU GB/s =
//   QEMU time ÷ savevm time. `.cpu` twins: content bytes per CPU-second of the whole side over
//   the same window — savevm: this process + its reaped cat (getrusage); QEMU: its process +
//   its reaped exec: children (/proc/PID/stat, read 300 ms after `completed`, once QEMU has
//   reaped them; 10 ms resolution).
// - Everything pinned to one CPU (BENCH_CPU, default 0), QEMU and the cats included (they
//   inherit the affinity); one untimed warm-up of each side, then BENCH_RUNS (default 5)
//   interleaved runs; medians.
// - Checked once: savevm's record counts (PAGE and ZERO), QEMU's (query-migrate `normal` and
//   `duplicate`), savevm's loaded block equals the content, QEMU's loaded RAM (pmemsave)
//   equals the content.
import { spawn } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MigrationBlockers,
  MigrationDestination,
  MigrationNotifiers,
  MigrationSource,
  RunState,
  RunStateController,
  SaveStateRegistry,
  createQemuGlobalState,
  createQemuTimerState,
  qemuGlobalStateVmState,
  qemuTimerVmState,
  registerVmState,
} from '@savevm/core';
import { GuestRam, registerRam } from '@savevm/ram';
import { FdChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import koffi from 'koffi';
import { benchBytes, log, median, now, result } from './lib/common.mjs';
import { alignedBuffer, allowedCpus, cpuSeconds, makePipe, pinToCpu } from './lib/native.mjs';
import { Qmp, migrationStatusIs } from './lib/qmp.mjs';

const PAGE = 4096;
const BYTES = benchBytes();
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
const CPU = process.env.BENCH_CPU ?? '0';
const PIPE_SIZE = 64 * 1024; // the default pipe capacity, which QEMU's exec: pipe has
const GB = 1e9;
/** How long after `completed` QEMU's CPU time is read: its exec: child is reaped at cleanup, just after. */
const SETTLE_MS = 300;
if (BYTES % (1 << 20) !== 0) throw new Error(`BENCH_BYTES ${BYTES} must be a whole number of MiB (QEMU's -m)`);

const libc = koffi.load('libc.so.6');
const madvise = libc.func('int madvise(void *addr, size_t length, int advice)');
const MADV_DONTNEED = 4;
const MADV_HUGEPAGE = 14;
const HUGE_PAGE = 2 << 20;

/**
 * Guest memory as a VMM (and QEMU, for its guest RAM) allocates it: 2 MiB-aligned and
 * madvise(MADV_HUGEPAGE), so transparent huge pages back it where the kernel allows.
 */
function guestMemory(size) {
  const buf = alignedBuffer(size, HUGE_PAGE);
  if (madvise(buf, buf.length, MADV_HUGEPAGE) !== 0) log(`  madvise(MADV_HUGEPAGE) failed: errno ${koffi.errno()}`);
  return buf;
}

const CLK_TCK = 100; // Linux's USER_HZ, the unit of /proc/PID/stat's times

/**
 * CPU seconds used so far by process `pid` (all threads) plus its reaped children (QEMU's
 * `exec:` shell and cat), from /proc/PID/stat.
 */
function processCpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14–17.
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / CLK_TCK;
}

function findQemu() {
  if (process.env.SAVEVM_QEMU) return process.env.SAVEVM_QEMU;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'qemu-system-x86_64');
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  throw new Error('qemu-system-x86_64 not found (sudo apt-get install qemu-system-x86)');
}

pinToCpu(CPU);
const QEMU = findQemu();
const tmpRoot = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const tmp = fs.mkdtempSync(path.join(tmpRoot, `savevm-bench-${process.pid}-`));
const children = new Set();
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
};
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    cleanup();
    process.exit(1);
  });
}
const contentPath = path.join(tmp, 'content.bin');
const streamPath = path.join(tmp, 'stream.mig');

function run(file, args, stdio) {
  const child = spawn(file, args, { stdio });
  children.add(child);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      children.delete(child);
      code === 0 ? resolve() : reject(new Error(`${path.basename(file)} ${args.join(' ')} exited with ${signal ?? code}`));
    });
  });
}

/** The fixed content: AES-128-CTR of zeros under a fixed key (pseudo-random, reproducible), every fourth page zero. */
function makeContent() {
  const content = guestMemory(BYTES);
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 0x42), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(1 << 20);
  for (let at = 0; at < BYTES; at += zeros.length) content.set(cipher.update(zeros), at);
  for (let at = 0; at < BYTES; at += 4 * PAGE) content.fill(0, at, at + PAGE);
  fs.writeFileSync(contentPath, content);
  return content;
}

/**
 * A registry laid out as QEMU's `-M none`: timer, ram (one block "ram" over `memory`),
 * globalstate. (Something must come before ram: QEMU 7.2 would take a live section with id 0
 * for the first entry that has not loaded a START yet, docs/design/ram-section.md §1.)
 */
function ramVm(memory, runState) {
  const registry = new SaveStateRegistry();
  registerVmState(registry, qemuTimerVmState, createQemuTimerState(0n, 0n), { instanceId: 0 });
  const ram = new GuestRam();
  ram.addBlock('ram', memory);
  const entry = registerRam(registry, ram);
  registerVmState(registry, qemuGlobalStateVmState, createQemuGlobalState(runState), { instanceId: 0 });
  return { registry, handlers: entry.handlers };
}

/** savevm save: a paused VM → 64 KiB pipe → cat > /dev/null (or a file, untimed, for the load side). */
async function savevmSave(content, toFile) {
  const { registry, handlers } = ramVm(content, RunState.PAUSED);
  const source = new MigrationSource({
    registry,
    runState: new RunStateController(RunState.PAUSED),
    blockers: new MigrationBlockers(),
    notifiers: new MigrationNotifiers(),
  });
  let fd;
  let drainer = Promise.resolve();
  const t0 = now();
  const c0 = cpuSeconds();
  if (toFile) fd = fs.openSync(streamPath, 'w');
  else {
    const { readFd, writeFd } = makePipe(PIPE_SIZE);
    const devnull = fs.openSync('/dev/null', 'w');
    drainer = run('cat', [], [readFd, devnull, 'inherit']);
    fs.closeSync(readFd);
    fs.closeSync(devnull);
    fd = writeFd;
  }
  const writer = new QemuFileWriter(new FdChannel(fd, { mode: 'sync' }), { synchronous: true });
  const info = await source.migrate(writer, { machine: 'none', maxBandwidth: 0 });
  const t1 = now();
  fs.closeSync(fd);
  await drainer;
  const c1 = cpuSeconds();
  if (info.status !== 'completed') throw new Error(`savevm migration ended ${info.status}`);
  return { seconds: t1 - t0, cpu: c1 - c0, stats: handlers.saver.stats };
}

/** Starts QEMU -M none with `extra` args and a QMP socket; returns it with its QMP session (events on). */
async function startQemu(extra) {
  const sock = path.join(tmp, `qmp-${process.hrtime.bigint()}.sock`);
  const mib = BYTES >> 20;
  const args = ['-machine', 'none', '-m', `${mib}M`, '-nodefaults', '-display', 'none', '-accel', 'tcg', '-S', '-qmp', `unix:${sock},server=on,wait=off`, ...extra];
  const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => (children.delete(child), resolve({ code, signal }))));
  const cpu = () => processCpuSeconds(child.pid);
  const qmp = await Qmp.connect(sock, 30_000);
  await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
  const stop = async () => {
    await qmp.execute('quit').catch(() => undefined);
    qmp.close();
    await Promise.race([exited, sleep(10_000)]);
    child.kill('SIGKILL');
    fs.rmSync(sock, { force: true });
  };
  return { qmp, stop, cpu, stderr: () => stderr };
}

/** QEMU save: paused, RAM from the content file; `migrate exec:cat > /dev/null`. */
async function qemuSave() {
  const q = await startQemu(['-device', `loader,file=${contentPath},addr=0,force-raw=on`]);
  try {
    await q.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 1024 * 1024 * 1024 * 1024 });
    const c0 = q.cpu();
    const t0 = now();
    await q.qmp.execute('migrate', { uri: 'exec:cat > /dev/null' });
    const ev = await q.qmp.waitForEvent(migrationStatusIs('completed', 'failed', 'cancelled'));
    if (ev.data.status !== 'completed') throw new Error(`QEMU migration ${ev.data.status}: ${q.stderr()}`);
    const info = await q.qmp.execute('query-migrate');
    await sleep(SETTLE_MS);
    return { seconds: ev.receivedAt - t0, cpu: q.cpu() - c0, totalTimeMs: info['total-time'], ram: info.ram };
  } finally {
    await q.stop();
  }
}

/** savevm load: cat STREAM → 64 KiB pipe → MigrationDestination → the block (fresh zero pages). */
async function savevmLoad(memory) {
  if (madvise(memory, memory.length, MADV_DONTNEED) !== 0) throw new Error(`madvise failed: errno ${koffi.errno()}`);
  const { registry, handlers } = ramVm(memory, RunState.PAUSED);
  const destination = new MigrationDestination({ registry, runState: new RunStateController(RunState.INMIGRATE) });
  const t0 = now();
  const c0 = cpuSeconds();
  const { readFd, writeFd } = makePipe(PIPE_SIZE);
  const feeder = run('cat', [streamPath], ['ignore', writeFd, 'inherit']);
  fs.closeSync(writeFd);
  const reader = new QemuFileReader(new FdChannel(readFd, { mode: 'sync', ownsFd: true }));
  const info = await destination.load(reader, { machine: 'none' });
  const t1 = now();
  await reader.close();
  await feeder;
  const c1 = cpuSeconds();
  if (info.status !== 'completed') throw new Error(`savevm load ended ${info.status}`);
  return { seconds: t1 - t0, cpu: c1 - c0, stats: handlers.loader.stats };
}

/** QEMU load: `-incoming defer`, then `migrate-incoming exec:cat STREAM`; optionally reads the RAM back. */
async function qemuLoad(verifyAgainst) {
  const q = await startQemu(['-incoming', 'defer']);
  try {
    const c0 = q.cpu();
    const t0 = now();
    await q.qmp.execute('migrate-incoming', { uri: `exec:cat ${streamPath}` });
    const ev = await q.qmp.waitForEvent(migrationStatusIs('completed', 'failed', 'cancelled'));
    if (ev.data.status !== 'completed') throw new Error(`QEMU incoming migration ${ev.data.status}: ${q.stderr()}`);
    const seconds = ev.receivedAt - t0;
    await sleep(SETTLE_MS);
    const cpu = q.cpu() - c0;
    if (verifyAgainst) {
      const dump = path.join(tmp, 'pmem.bin');
      await q.qmp.execute('pmemsave', { val: 0, size: BYTES, filename: dump });
      const same = fs.readFileSync(dump).equals(verifyAgainst);
      fs.rmSync(dump, { force: true });
      if (!same) throw new Error("QEMU's loaded RAM differs from the content");
    }
    return { seconds, cpu };
  } finally {
    await q.stop();
  }
}

async function main() {
  log(`ram-1gib: ${BYTES} bytes, ${RUNS} runs, pinned to CPU ${CPU} (allowed: ${allowedCpus()}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const content = makeContent();
  const loadMemory = guestMemory(BYTES);

  // The stream both loaders read, and the first checks.
  const saved = await savevmSave(content, true);
  const pages = BYTES / PAGE;
  if (saved.stats.zeroPages !== pages / 4 || saved.stats.pages !== pages - pages / 4) {
    throw new Error(`savevm sent ${saved.stats.pages} PAGE + ${saved.stats.zeroPages} ZERO records, expected ${pages - pages / 4} + ${pages / 4}`);
  }
  log(`  stream: ${fs.statSync(streamPath).size} bytes; ${saved.stats.pages} PAGE + ${saved.stats.zeroPages} ZERO records`);

  // Warm-ups (untimed), with the checks of the load side and of QEMU's save.
  await savevmSave(content, false);
  const q0 = await qemuSave();
  log(`  QEMU save: normal ${q0.ram.normal}, duplicate ${q0.ram.duplicate}, total-time ${q0.totalTimeMs} ms`);
  if (q0.ram.duplicate !== pages / 4 || q0.ram.normal !== pages - pages / 4) throw new Error('QEMU sent other page counts than expected');
  const l0 = await savevmLoad(loadMemory);
  if (!loadMemory.equals(content)) throw new Error("savevm's loaded block differs from the content");
  if (l0.stats.pages !== pages - pages / 4) throw new Error(`savevm loaded ${l0.stats.pages} pages`);
  await qemuLoad(content);
  log('  checked: record counts on both sides, savevm and QEMU loaded RAM equal the content');

  const runs = { ss: [], qs: [], sl: [], ql: [], qtt: [] };
  for (let i = 0; i < RUNS; i++) {
    runs.ss.push(await savevmSave(content, false));
    const q = await qemuSave();
    runs.qs.push(q);
    runs.qtt.push(q.totalTimeMs);
    runs.sl.push(await savevmLoad(loadMemory));
    runs.ql.push(await qemuLoad(undefined));
  }
  const fmt = (list, key) => list.map((r) => (BYTES / r[key] / GB).toFixed(2)).join(' ');
  log(`  save: savevm GB/s [${fmt(runs.ss, 'seconds')}]  QEMU GB/s [${fmt(runs.qs, 'seconds')}]  (QEMU total-time ms [${runs.qtt.join(' ')}])`);
  log(`        savevm GB/CPU-s [${fmt(runs.ss, 'cpu')}]  QEMU GB/CPU-s [${fmt(runs.qs, 'cpu')}]`);
  log(`  load: savevm GB/s [${fmt(runs.sl, 'seconds')}]  QEMU GB/s [${fmt(runs.ql, 'seconds')}]`);
  log(`        savevm GB/CPU-s [${fmt(runs.sl, 'cpu')}]  QEMU GB/CPU-s [${fmt(runs.ql, 'cpu')}]`);
  const gbps = (list, key) => Number((BYTES / median(list.map((r) => r[key])) / GB).toFixed(3));
  const label = BYTES === 2 ** 30 ? '1GiB' : `${BYTES}B`;
  const saveRef = 'QEMU 7.2 -M none: migrate exec:cat > /dev/null';
  const loadRef = 'QEMU 7.2 -M none: migrate-incoming exec:cat STREAM';
  return [
    result(`ram.save-${label}`, 'GB/s', gbps(runs.ss, 'seconds'), { name: saveRef, value: gbps(runs.qs, 'seconds') }),
    result(`ram.save-${label}.cpu`, 'GB/CPU-s', gbps(runs.ss, 'cpu'), { name: saveRef, value: gbps(runs.qs, 'cpu') }),
    result(`ram.load-${label}`, 'GB/s', gbps(runs.sl, 'seconds'), { name: loadRef, value: gbps(runs.ql, 'seconds') }),
    result(`ram.load-${label}.cpu`, 'GB/CPU-s', gbps(runs.sl, 'cpu'), { name: loadRef, value: gbps(runs.ql, 'cpu') }),
  ];
}

try {
  const results = await main();
  process.stdout.write(`${JSON.stringify(results)}\n`);
} finally {
  cleanup();
}
