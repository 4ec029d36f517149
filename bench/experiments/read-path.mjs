// Experiment (not run by bench/run.mjs): where does QemuFileReader.copyTo lose time on the
// load path of stream-1mib-blocks? Run: `node bench/experiments/read-path.mjs` (BENCH_BYTES,
// BENCH_RUNS, BENCH_CPU as for the benchmarks). Pinned to one CPU like the benchmark.
//
// Per 1 MiB block the package's reader does read(32 KiB look-ahead) → write(32752 bytes
// of payload from the look-ahead) → read(1015824 into scratch) → write(1015824): two reads
// and two sink writes, the first from a malloc'd (page+16) buffer. The variants, same file,
// same sink, interleaved:
//   package   QemuFileReader.copyTo with an aligned 1 MiB scratch (what the benchmark runs)
//   minimal   a hand-written sync loop: readSync 16-byte header, readSync the payload into
//             the aligned scratch, one writeSync per block (the floor for Node)
//   writev    the package's pattern, but look-ahead head + first scratch read in ONE writev
//   cat       `cat FRAMED` into the same sink
// Sinks: /dev/null, and a 1 MiB pipe drained by `cat > /dev/null`. Prints wall-clock GB/s and
// GB per CPU-second (this process + reaped children), medians.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FdChannel, QemuFileReader } from '@savevm/stream';
import { benchBytes, log, median, now } from '../lib/common.mjs';
import { alignedBuffer, buildC, cpuSeconds, makePipe, pinToCpu } from '../lib/native.mjs';

const DATA = 0xffffffffef100004n;
const END = 0xffffffffef100001n;
const BYTES = benchBytes();
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
pinToCpu(process.env.BENCH_CPU ?? '0');
const datagen = buildC('datagen');
const tmp = fs.mkdtempSync(`/dev/shm/savevm-bench-${process.pid}-`);
const framed = path.join(tmp, 'framed.bin');
const scratch = alignedBuffer(1 << 20);
const hdr = Buffer.alloc(16);
const lookahead = Buffer.allocUnsafe(32768); // like QemuFileReader's (malloc'd, not aligned)

function run(file, args, stdio) {
  const child = spawn(file, args, { stdio });
  return new Promise((resolve, reject) => child.once('exit', (c) => (c === 0 ? resolve() : reject(new Error(`${file} ${c}`)))));
}

function writeAll(fd, chunk) {
  let off = 0;
  while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
}

/** Writes the framed file with a plain loop (datagen → 1 MiB blocks). */
async function makeFramed() {
  const { readFd, writeFd } = makePipe();
  const producer = run(datagen, ['gen', String(BYTES)], ['ignore', writeFd, 'inherit']);
  fs.closeSync(writeFd);
  const out = fs.openSync(framed, 'w');
  const block = alignedBuffer(1 << 20);
  for (;;) {
    let n = 0;
    while (n < block.length) {
      const got = fs.readSync(readFd, block, n, block.length - n, null);
      if (!got) break;
      n += got;
    }
    if (!n) break;
    hdr.writeBigUInt64BE(DATA, 0);
    hdr.writeBigUInt64BE(BigInt(n), 8);
    fs.writevSync(out, [hdr, block.subarray(0, n)]);
  }
  hdr.writeBigUInt64BE(END, 0);
  fs.writeSync(out, hdr, 0, 8);
  fs.closeSync(out);
  fs.closeSync(readFd);
  await producer;
}

/** Opens the sink; returns { fd, done } where done resolves when the drainer exited. */
function openSink(kind) {
  if (kind === 'null') return { fd: fs.openSync('/dev/null', 'w'), done: Promise.resolve() };
  const { readFd, writeFd } = makePipe();
  const devnull = fs.openSync('/dev/null', 'w');
  const done = run('cat', [], [readFd, devnull, 'inherit']);
  fs.closeSync(readFd);
  fs.closeSync(devnull);
  return { fd: writeFd, done };
}

const variants = {
  async package(kind) {
    const t0 = now();
    const sink = openSink(kind);
    const out = { write: (c) => writeAll(sink.fd, c) };
    const r = new QemuFileReader(new FdChannel(fs.openSync(framed, 'r'), { mode: 'sync', ownsFd: true }));
    for (;;) {
      const tag = await r.getBe64();
      if (tag === END) break;
      await r.copyTo(await r.getBe64Number(), out, { scratch });
    }
    await r.close();
    fs.closeSync(sink.fd);
    await sink.done;
    return now() - t0;
  },
  async minimal(kind) {
    const t0 = now();
    const sink = openSink(kind);
    const fd = fs.openSync(framed, 'r');
    for (;;) {
      fs.readSync(fd, hdr, 0, 8, null);
      if (hdr.readBigUInt64BE(0) === END) break;
      fs.readSync(fd, hdr, 8, 8, null);
      let left = Number(hdr.readBigUInt64BE(8));
      while (left > 0) {
        const got = fs.readSync(fd, scratch, 0, Math.min(left, scratch.length), null);
        writeAll(sink.fd, scratch.subarray(0, got));
        left -= got;
      }
    }
    fs.closeSync(fd);
    fs.closeSync(sink.fd);
    await sink.done;
    return now() - t0;
  },
  // The package's syscall pattern (32 KiB look-ahead from a malloc'd buffer), but the
  // buffered head of the payload and the first scratch read go to the sink in ONE writev:
  // what copyTo would do with the proposed optional ByteSink.writev.
  async writev(kind) {
    const t0 = now();
    const sink = openSink(kind);
    const fd = fs.openSync(framed, 'r');
    let pos = 0;
    let end = 0;
    const fill = (min) => {
      if (end - pos >= min) return;
      lookahead.copyWithin(0, pos, end);
      end -= pos;
      pos = 0;
      while (end < min) {
        const got = fs.readSync(fd, lookahead, end, lookahead.length - end, null);
        if (!got) throw new Error('truncated');
        end += got;
      }
    };
    for (;;) {
      fill(8);
      const tag = lookahead.readBigUInt64BE(pos);
      pos += 8;
      if (tag === END) break;
      fill(8);
      const n = Number(lookahead.readBigUInt64BE(pos));
      pos += 8;
      const b = Math.min(n, end - pos);
      const head = lookahead.subarray(pos, pos + b);
      pos += b;
      let left = n - b;
      if (left === 0) {
        writeAll(sink.fd, head);
        continue;
      }
      let first = b > 0;
      while (left > 0) {
        const got = fs.readSync(fd, scratch, 0, Math.min(left, scratch.length), null);
        if (!got) throw new Error('truncated');
        const chunks = first ? [head, scratch.subarray(0, got)] : [scratch.subarray(0, got)];
        const want = first ? b + got : got;
        if (fs.writevSync(sink.fd, chunks) !== want) throw new Error('short writev');
        first = false;
        left -= got;
      }
      pos = end = 0;
    }
    fs.closeSync(fd);
    fs.closeSync(sink.fd);
    await sink.done;
    return now() - t0;
  },
  async cat(kind) {
    const t0 = now();
    const sink = openSink(kind);
    await run('cat', [framed], ['ignore', sink.fd, 'inherit']);
    fs.closeSync(sink.fd);
    await sink.done;
    return now() - t0;
  },
};

try {
  await makeFramed();
  for (const kind of ['null', 'pipe']) {
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
      log(`read → ${kind}: ${k.padEnd(8)} median ${gbps(median(ts))} GB/s (÷cat ${(cat / median(ts)).toFixed(2)})  runs [${ts.map(gbps).join(' ')}]  CPU: ${gbps(cpu)} GB/CPU-s (÷cat ${(catCpu / cpu).toFixed(2)})`);
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
