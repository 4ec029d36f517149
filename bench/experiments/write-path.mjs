// Experiment (not run by bench/run.mjs): the save path of stream-1mib-blocks, Node vs C vs cat.
// Run: `node bench/experiments/write-path.mjs` (BENCH_BYTES, BENCH_RUNS, BENCH_CPU). Pinned to
// one CPU. Same producer (datagen through a 1 MiB pipe), same sinks (/dev/null, a fresh tmpfs file):
//   package   QemuFileWriter over FdChannel(sync), aligned 1 MiB block (what the benchmark runs)
//   minimal   fs.writevSync(sink, [16-byte header, block]) by hand (the floor for Node)
//   cframe    the same loop in C (bench/experiments/cframe.c), i.e. what the format costs
//   cat       `cat` (128 KiB read/write, unframed)
// Prints wall-clock GB/s and GB per CPU-second (this process + reaped children), medians.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FdChannel, QemuFileWriter } from '@savevm/stream';
import { benchBytes, log, median, now } from '../lib/common.mjs';
import { alignedBuffer, buildC, cpuSeconds, makePipe, pinToCpu } from '../lib/native.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BYTES = benchBytes();
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
pinToCpu(process.env.BENCH_CPU ?? '0');
const datagen = buildC('datagen');
const cframe = buildC('cframe', path.join(here, 'cframe.c'));
const tmp = fs.mkdtempSync(`/dev/shm/savevm-bench-${process.pid}-`);
const block = alignedBuffer(1 << 20);
const hdr = Buffer.alloc(16);

function run(file, args, stdio) {
  const child = spawn(file, args, { stdio });
  return new Promise((resolve, reject) => child.once('exit', (c) => (c === 0 ? resolve() : reject(new Error(`${file} ${c}`)))));
}

function sinkFd(kind) {
  if (kind === 'null') return fs.openSync('/dev/null', 'w');
  const p = path.join(tmp, 'out.bin');
  fs.rmSync(p, { force: true });
  return fs.openSync(p, 'w');
}

function readBlock(fd) {
  let n = 0;
  while (n < block.length) {
    const got = fs.readSync(fd, block, n, block.length - n, null);
    if (!got) break;
    n += got;
  }
  return n;
}

async function nodeLoop(kind, body) {
  const out = sinkFd(kind);
  const { readFd, writeFd } = makePipe();
  const t0 = now();
  const producer = run(datagen, ['gen', String(BYTES)], ['ignore', writeFd, 'inherit']);
  fs.closeSync(writeFd);
  await body(readFd, out);
  await producer;
  const t = now() - t0;
  fs.closeSync(readFd);
  fs.closeSync(out);
  return t;
}

async function childLoop(kind, file, args) {
  const out = sinkFd(kind);
  const { readFd, writeFd } = makePipe();
  const t0 = now();
  const done = Promise.all([
    run(datagen, ['gen', String(BYTES)], ['ignore', writeFd, 'inherit']),
    run(file, args, [readFd, out, 'inherit']),
  ]);
  fs.closeSync(writeFd);
  fs.closeSync(readFd);
  await done;
  const t = now() - t0;
  fs.closeSync(out);
  return t;
}

const variants = {
  package: (kind) =>
    nodeLoop(kind, async (inFd, out) => {
      const w = new QemuFileWriter(new FdChannel(out, { mode: 'sync' }), { synchronous: true });
      for (let n; (n = readBlock(inFd)) > 0; ) {
        w.putBe64(0xffffffffef100004n);
        w.putBe64Number(n);
        w.putBuffer(n === block.length ? block : block.subarray(0, n));
      }
      w.putBe64(0xffffffffef100001n);
      await w.flush();
    }),
  minimal: (kind) =>
    nodeLoop(kind, async (inFd, out) => {
      for (let n; (n = readBlock(inFd)) > 0; ) {
        hdr.writeBigUInt64BE(0xffffffffef100004n, 0);
        hdr.writeBigUInt64BE(BigInt(n), 8);
        fs.writevSync(out, [hdr, n === block.length ? block : block.subarray(0, n)]);
      }
      hdr.writeBigUInt64BE(0xffffffffef100001n, 0);
      fs.writeSync(out, hdr, 0, 8);
    }),
  cframe: (kind) => childLoop(kind, cframe, []),
  cat: (kind) => childLoop(kind, 'cat', []),
};

try {
  for (const kind of ['null', 'tmpfs']) {
    const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
    const cpus = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
    for (const fn of Object.values(variants)) await fn(kind); // warm-up
    for (let i = 0; i < RUNS; i++) {
      for (const [k, fn] of Object.entries(variants)) {
        const c0 = cpuSeconds();
        times[k].push(await fn(kind));
        cpus[k].push(cpuSeconds() - c0); // this process + reaped children (producer, cat, drainer)
      }
    }
    const cat = median(times.cat);
    const catCpu = median(cpus.cat);
    for (const [k, ts] of Object.entries(times)) {
      const gbps = (t) => (BYTES / t / 1e9).toFixed(2);
      const cpu = median(cpus[k]);
      log(`write → ${kind}: ${k.padEnd(8)} median ${gbps(median(ts))} GB/s (÷cat ${(cat / median(ts)).toFixed(2)})  runs [${ts.map(gbps).join(' ')}]  CPU: ${gbps(cpu)} GB/CPU-s (÷cat ${(catCpu / cpu).toFixed(2)})`);
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
