// vfio-v2-1gib: 1 GiB (BENCH_BYTES) of VFIO device state through the full @savevm/core
// drivers with the @savevm/vfio-v2 handlers, against QEMU's loop in C, in the same run.
//
// - vfio-v2.save-1GiB.devnull / .tmpfs: a C producer (bench/lib/datagen.c, 1 MiB write()s,
//   like a kernel data_fd) feeds a 1 MiB pipe; the "device" is a stand-in
//   (bench/lib/vfio-v2-pipe-device.mjs) whose STOP_COPY data file is that pipe. The whole
//   source driver runs: header, configuration, START (SETUP, END), switchover through the
//   run-state handler, END (DATA blocks of ≤ 1 MiB: FIONREAD on the pipe, header, then
//   splice(2) pipe → sink through FdDataFile.spliceSource + QemuFileWriter.spliceFrom;
//   the aligned read + put when nothing is ready, END_OF_STATE), EOF, vmdesc, cleanup — written by QemuFileWriter over a sync
//   FdChannel into /dev/null or a fresh /dev/shm file. Reference: bench/lib/vfio-v2-ref.c
//   `save` (read 1 MiB, writev marker + be64 length + block) between the same endpoints.
// - vfio-v2.load-1GiB: the stream the save wrote to tmpfs, loaded by the destination
//   driver (loadSetup → RESUMING, loadState tag loop, copyTo: look-ahead bytes written,
//   the rest spliced stream fd → data_fd pipe through FdDataFile.spliceSink) into a 1 MiB pipe drained by `cat > /dev/null`. Reference:
//   `vfio-v2-ref load OFFSET < stream | cat > /dev/null`.
// - Everything pinned to one CPU (BENCH_CPU, default 0) with taskset, as the other benches;
//   one untimed warm-up each, then BENCH_RUNS (default 7) interleaved runs, medians; GB/s =
//   10^9 payload bytes per second; Node's start-up excluded (paid once per migration).
// - Checked once: the saved stream loads back through `datagen verify` (payload identical),
//   and its DATA framing is walked (blocks of ≤ 1 MiB, BYTES in all, END_OF_STATE).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  MigrationBlockers,
  MigrationDestination,
  MigrationNotifiers,
  MigrationSource,
  RunState,
  RunStateController,
  SaveStateRegistry,
} from '@savevm/core';
import { FdChannel, INSTANCE_ID_ANY, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { VfioMigrationFlags } from '@savevm/vfio';
import { VfioV2DeviceMigration } from '@savevm/vfio-v2';
import { benchBytes, compareAlternately, log, now, throughputResults } from './lib/common.mjs';
import { allowedCpus, buildC, cpuSeconds, makePipe, pinToCpu } from './lib/native.mjs';
import { PipeStandInDevice } from './lib/vfio-v2-pipe-device.mjs';

const BYTES = benchBytes();
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 7));
const CPU = process.env.BENCH_CPU ?? '0';
const MARKER = Buffer.from('ffffffffef100004', 'hex');

pinToCpu(CPU);
const datagen = buildC('datagen');
const ref = buildC('vfio-v2-ref');
const tmpRoot = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const tmp = fs.mkdtempSync(path.join(tmpRoot, `savevm-bench-${process.pid}-`));
const cleanup = () => fs.rmSync(tmp, { recursive: true, force: true });
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    cleanup();
    process.exit(1);
  });
}
const streamPath = path.join(tmp, 'stream.bin');
const refOutPath = path.join(tmp, 'ref-out.bin');

function run(file, args, stdio) {
  const child = spawn(file, args, { stdio });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(file)} ${args.join(' ')} exited with ${signal ?? code}`)),
    );
  });
}

function openSink(sinkPath) {
  if (sinkPath !== '/dev/null') fs.rmSync(sinkPath, { force: true });
  return fs.openSync(sinkPath, 'w');
}

/** A fresh VM with one VFIO v2 device on `device`. */
function vmWith(device, runState) {
  const registry = new SaveStateRegistry();
  const migration = new VfioV2DeviceMigration(device, VfioMigrationFlags.STOP_COPY, { preCopy: false });
  const spec = migration.spec();
  registry.register(spec.idstr, INSTANCE_ID_ANY, spec.versionId, spec.handlers);
  runState.addChangeHandler(spec.runStateHandler, { name: spec.idstr });
  return registry;
}

/** Save: producer pipe → stand-in data file → full source driver → sink. */
async function nodeSave(sinkPath) {
  const sinkFd = openSink(sinkPath);
  const { readFd, writeFd } = makePipe();
  const t0 = now();
  const c0 = cpuSeconds();
  const producer = run(datagen, ['gen', String(BYTES)], ['ignore', writeFd, 'inherit']);
  fs.closeSync(writeFd);
  const runState = new RunStateController(RunState.RUNNING);
  const device = new PipeStandInDevice('0000:00:03.0', { sourceFd: readFd, sinkFd: -1, stopCopySize: BYTES });
  const registry = vmWith(device, runState);
  const source = new MigrationSource({ registry, runState, blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
  const writer = new QemuFileWriter(new FdChannel(sinkFd, { mode: 'sync' }), { synchronous: true });
  const info = await source.migrate(writer, { maxBandwidth: 0, maxIterations: 0 });
  await producer;
  const t1 = now();
  const c1 = cpuSeconds();
  // readFd was owned (and closed at cleanup) by the device's data file.
  fs.closeSync(sinkFd);
  if (info.status !== 'completed') throw new Error(`migration ended ${info.status}`);
  return { wall: t1 - t0, cpu: c1 - c0 };
}

/** Save reference: datagen | vfio-v2-ref save > sink. */
async function refSave(sinkPath) {
  const sinkFd = openSink(sinkPath);
  const { readFd, writeFd } = makePipe();
  const t0 = now();
  const c0 = cpuSeconds();
  const producer = run(datagen, ['gen', String(BYTES)], ['ignore', writeFd, 'inherit']);
  const framer = run(ref, ['save'], [readFd, sinkFd, 'inherit']);
  fs.closeSync(writeFd);
  fs.closeSync(readFd);
  await Promise.all([producer, framer]);
  const t1 = now();
  const c1 = cpuSeconds();
  fs.closeSync(sinkFd);
  return { wall: t1 - t0, cpu: c1 - c0 };
}

/** Load: stream file → full destination driver → stand-in data file (pipe) → drainer. */
async function nodeLoad(drain = ['cat', []]) {
  const { readFd, writeFd } = makePipe();
  const devnull = fs.openSync('/dev/null', 'w');
  const t0 = now();
  const c0 = cpuSeconds();
  const drainer = run(drain[0], drain[1], [readFd, devnull, 'inherit']);
  fs.closeSync(readFd);
  fs.closeSync(devnull);
  const runState = new RunStateController(RunState.INMIGRATE);
  const device = new PipeStandInDevice('0000:00:03.0', { sourceFd: -1, sinkFd: writeFd, stopCopySize: BYTES });
  const registry = vmWith(device, runState);
  const destination = new MigrationDestination({ registry, runState });
  const reader = new QemuFileReader(new FdChannel(fs.openSync(streamPath, 'r'), { mode: 'sync', ownsFd: true }));
  const info = await destination.load(reader, { autostart: true });
  await reader.close();
  // writeFd was owned (and closed at load cleanup) by the device's data file: the drainer sees EOF.
  await drainer;
  const t1 = now();
  const c1 = cpuSeconds();
  if (info.status !== 'completed') throw new Error(`load ended ${info.status}`);
  return { wall: t1 - t0, cpu: c1 - c0 };
}

/** Offset of the first DEV_DATA_STATE marker in the stream (the C loader starts there). */
function firstDataOffset() {
  const head = Buffer.alloc(64 * 1024);
  const fd = fs.openSync(streamPath, 'r');
  const n = fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  const at = head.subarray(0, n).indexOf(MARKER);
  if (at < 0) throw new Error('no DEV_DATA_STATE in the stream head');
  return at;
}

/** Walks the DATA blocks of the saved stream: QEMU's framing, blocks of ≤ 1 MiB, BYTES in all. */
function checkFraming(offset) {
  const fd = fs.openSync(streamPath, 'r');
  const head = Buffer.alloc(16);
  let at = offset;
  let total = 0;
  let blocks = 0;
  try {
    for (;;) {
      if (fs.readSync(fd, head, 0, 16, at) < 8) throw new Error(`stream truncated at ${at}`);
      const tag = head.readBigUInt64BE(0);
      if (tag === 0xffffffffef100001n) break;
      if (tag !== 0xffffffffef100004n) throw new Error(`unexpected tag 0x${tag.toString(16)} at ${at}`);
      const n = Number(head.readBigUInt64BE(8));
      if (n === 0 || n > 1 << 20) throw new Error(`block of ${n} bytes at ${at}`);
      total += n;
      blocks++;
      at += 16 + n;
    }
  } finally {
    fs.closeSync(fd);
  }
  if (total !== BYTES) throw new Error(`stream carries ${total} bytes, expected ${BYTES}`);
  return blocks;
}

/** Load reference: vfio-v2-ref load OFFSET < stream | cat > /dev/null. */
async function refLoad(offset) {
  const { readFd, writeFd } = makePipe();
  const devnull = fs.openSync('/dev/null', 'w');
  const input = fs.openSync(streamPath, 'r');
  const t0 = now();
  const c0 = cpuSeconds();
  const done = Promise.all([run(ref, ['load', String(offset)], [input, writeFd, 'inherit']), run('cat', [], [readFd, devnull, 'inherit'])]);
  fs.closeSync(readFd);
  fs.closeSync(writeFd);
  fs.closeSync(devnull);
  fs.closeSync(input);
  await done;
  const t1 = now();
  const c1 = cpuSeconds();
  return { wall: t1 - t0, cpu: c1 - c0 };
}



async function main() {
  log(`vfio-v2-1gib: ${BYTES} bytes, ${RUNS} runs per variant, pinned to CPU ${allowedCpus()}, tmp ${tmp}`);
  log(`  load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const results = [];
  const cpuResults = [];
  const add = (name, refName, t) => {
    const [wall, cpu] = throughputResults(name, refName, t, BYTES);
    results.push(wall);
    cpuResults.push(cpu);
  };
  const compare = (label, nodeFn, refFn) => compareAlternately(label, 'C', nodeFn, refFn, { bytes: BYTES, runs: RUNS });
  const sNull = await compare('save → /dev/null', () => nodeSave('/dev/null'), () => refSave('/dev/null'));
  add('vfio-v2.save-1GiB.devnull', 'C: datagen | vfio-v2-ref save > /dev/null', sNull);
  const sTmpfs = await compare('save → tmpfs', () => nodeSave(streamPath), () => refSave(refOutPath));
  add('vfio-v2.save-1GiB.tmpfs', 'C: datagen | vfio-v2-ref save > /dev/shm file', sTmpfs);
  fs.rmSync(refOutPath, { force: true });
  // The last Node save left the stream on tmpfs: load it once through the checker.
  await nodeLoad([datagen, ['verify', String(BYTES)]]);
  log('  verified: the saved stream loads back byte-identical to the producer');
  const offset = firstDataOffset();
  log(`  framing checked: ${checkFraming(offset)} DATA blocks of ≤ 1 MiB, ${BYTES} bytes, END_OF_STATE`);
  const load = await compare('load → pipe → cat', () => nodeLoad(), () => refLoad(offset));
  add('vfio-v2.load-1GiB', 'C: vfio-v2-ref load < stream | cat > /dev/null', load);
  process.stdout.write(`${JSON.stringify([...results, ...cpuResults])}\n`);
}

try {
  await main();
} finally {
  cleanup();
}
