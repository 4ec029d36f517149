// stream-1mib-blocks: @savevm/stream framing 1 GiB (BENCH_BYTES) as 1 MiB VFIO DATA blocks,
// against `cat` moving the same bytes between the same endpoints, in the same run.
//
// How it is kept fair (see bench/README.md: "stream-1mib-blocks" and "Data-path limits"):
// - Pinning: this process pins itself and every child to ONE CPU (BENCH_CPU, default 0)
//   with `taskset -a -p` before anything starts. Cross-CPU pipes on this 2-vCPU VM are
//   bimodal (~1 vs ~3.4 GB/s); on one CPU the numbers are stable.
// - Same endpoints: the payload comes from a C producer (bench/lib/datagen.c, 1 MiB
//   write()s from an aligned buffer, like a kernel data_fd) through a pipe whose capacity
//   is 1 MiB. Both the Node framer and the reference `cat` read that same kind of pipe
//   and write into the same sink (/dev/null, or a fresh file on tmpfs /dev/shm).
// - write (save side, QEMU's vfio_save_block): Node reads up to 1 MiB into a page-aligned
//   buffer with fs.readSync, then QemuFileWriter over FdChannel(sync) puts
//   be64 DEV_DATA_STATE, be64 length and the block (one writev: header + block), and
//   END_OF_STATE at the end. Reference: `datagen gen N | cat > SINK`.
// - read (load side): QemuFileReader over FdChannel(sync) parses the framed tmpfs file
//   (getBe64 marker, getBe64Number length) and moves each payload with copyTo through one
//   page-aligned 1 MiB scratch buffer into the sink: /dev/null, or a 1 MiB pipe drained by
//   `cat > /dev/null`. Reference: `cat FRAMED > /dev/null` / `cat FRAMED | cat > /dev/null`.
// - Timing: monotonic clock in this process, from just before the first child is spawned
//   until the last child has exited (and, for Node, the writer is flushed). That includes
//   the fork/exec of the C producer and of `cat` but NOT Node's own start-up (~0.1 s),
//   which the real migrator pays once per migration, not per GiB.
// - Each variant runs once untimed (warm-up), then BENCH_RUNS times (default 7), Node and
//   cat interleaved; the median is reported. GB/s = 10^9 payload bytes per second (the 16-byte headers are not counted
//   for either side). ratio = Node ÷ cat; the target is ≥ 0.9.
// - CPU efficiency: each result also has a `.cpu` twin in GB per CPU-second: payload bytes ÷
//   (user+system CPU of this process + of its reaped children — producer, cat, drainer —
//   over the run; getrusage RUSAGE_CHILDREN). Everything runs on one CPU, so on an idle
//   machine wall ≈ CPU; when other jobs share the CPU the wall-clock figures scatter while
//   the CPU figures stay put, which makes the `.cpu` ratio the steadier comparison.
// - Correctness is checked once: the framed file's size, the marker and length at every
//   block boundary and the END_OF_STATE trailer are read back with plain fs calls, and the
//   payload that QemuFileReader.copyTo delivers is compared byte for byte with the
//   producer's pattern (`datagen verify`). Temp files live in a /dev/shm directory that is
//   removed at the end, also on failure.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FdChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { benchBytes, compareAlternately, log, now, throughputResults } from './lib/common.mjs';
import { alignedBuffer, allowedCpus, buildC, cpuSeconds, makePipe, pinToCpu } from './lib/native.mjs';

const DEV_DATA_STATE = 0xffffffffef100004n;
const END_OF_STATE = 0xffffffffef100001n;
const BLOCK = 1 << 20;
const HEADER = 16;

const BYTES = benchBytes();
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 7));
const CPU = process.env.BENCH_CPU ?? '0';

pinToCpu(CPU);
const datagen = buildC('datagen');
const tmpRoot = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
removeStaleTempDirs();
const tmp = fs.mkdtempSync(path.join(tmpRoot, `savevm-bench-${process.pid}-`));
const cleanup = () => fs.rmSync(tmp, { recursive: true, force: true });
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    cleanup();
    process.exit(1);
  });
}
const framedPath = path.join(tmp, 'framed.bin');
const catOutPath = path.join(tmp, 'cat-out.bin');
const blocks = Math.ceil(BYTES / BLOCK);
const framedSize = BYTES + blocks * HEADER + 8;

/** Removes temp dirs left by earlier runs that were killed (their pid is gone). */
function removeStaleTempDirs() {
  for (const name of fs.readdirSync(tmpRoot)) {
    const m = /^savevm-bench-(\d+)-/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      fs.rmSync(path.join(tmpRoot, name), { recursive: true, force: true });
    }
  }
}

/** Spawns a child with the given stdio fds; returns a promise for its successful exit. */
function run(file, args, stdio) {
  const child = spawn(file, args, { stdio });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(file)} ${args.join(' ')} exited with ${signal ?? code}`)),
    );
  });
}

function writeAll(fd, chunk) {
  let off = 0;
  while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
}

/** Opens a fresh sink: /dev/null, or a new (unlinked first) file. */
function openSink(sinkPath) {
  if (sinkPath !== '/dev/null') fs.rmSync(sinkPath, { force: true });
  return fs.openSync(sinkPath, 'w');
}

const block = alignedBuffer(BLOCK);
const scratch = alignedBuffer(BLOCK);

/** Save side, Node: producer pipe → aligned 1 MiB buffer → QemuFileWriter → sink. Returns { wall, cpu } seconds. */
async function nodeWrite(sinkPath) {
  const sinkFd = openSink(sinkPath);
  const { readFd, writeFd } = makePipe();
  const t0 = now();
  const c0 = cpuSeconds();
  const producer = run(datagen, ['gen', String(BYTES)], ['ignore', writeFd, 'inherit']);
  fs.closeSync(writeFd);
  const writer = new QemuFileWriter(new FdChannel(sinkFd, { mode: 'sync' }), { synchronous: true });
  for (;;) {
    // Like vfio_save_block: one block per read of up to 1 MiB (filled up if the pipe
    // returned less, so every block but the last is exactly 1 MiB).
    let n = 0;
    while (n < BLOCK) {
      const got = fs.readSync(readFd, block, n, BLOCK - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n === 0) break;
    writer.putBe64(DEV_DATA_STATE);
    writer.putBe64Number(n);
    writer.putBuffer(n === BLOCK ? block : block.subarray(0, n));
    if (n < BLOCK) break;
  }
  writer.putBe64(END_OF_STATE);
  await writer.flush();
  await producer;
  const t1 = now();
  const c1 = cpuSeconds();
  fs.closeSync(readFd);
  fs.closeSync(sinkFd);
  if (writer.bytesWritten !== framedSize) throw new Error(`writer wrote ${writer.bytesWritten}, expected ${framedSize}`);
  return { wall: t1 - t0, cpu: c1 - c0 };
}

/** Save side, reference: `datagen gen N | cat > SINK`. Returns { wall, cpu } seconds. */
async function catWrite(sinkPath) {
  const sinkFd = openSink(sinkPath);
  const { readFd, writeFd } = makePipe();
  const t0 = now();
  const c0 = cpuSeconds();
  const producer = run(datagen, ['gen', String(BYTES)], ['ignore', writeFd, 'inherit']);
  const consumer = run('cat', [], [readFd, sinkFd, 'inherit']);
  fs.closeSync(writeFd);
  fs.closeSync(readFd);
  await Promise.all([producer, consumer]);
  const t1 = now();
  const c1 = cpuSeconds();
  fs.closeSync(sinkFd);
  if (sinkPath !== '/dev/null' && fs.statSync(sinkPath).size !== BYTES) throw new Error('cat output has the wrong size');
  return { wall: t1 - t0, cpu: c1 - c0 };
}

/**
 * Load side, Node: framed file → QemuFileReader → copyTo(scratch) → sink ('null', or
 * 'pipe' drained by `drain`). Returns { wall, cpu } seconds.
 */
async function nodeRead(sink, drain = ['cat', []]) {
  let sinkFd;
  let drainer = Promise.resolve();
  const t0 = now();
  const c0 = cpuSeconds();
  if (sink === 'null') sinkFd = fs.openSync('/dev/null', 'w');
  else {
    const { readFd, writeFd } = makePipe();
    const devnull = fs.openSync('/dev/null', 'w');
    drainer = run(drain[0], drain[1], [readFd, devnull, 'inherit']);
    fs.closeSync(readFd);
    fs.closeSync(devnull);
    sinkFd = writeFd;
  }
  const out = { write: (chunk) => writeAll(sinkFd, chunk) };
  const reader = new QemuFileReader(new FdChannel(fs.openSync(framedPath, 'r'), { mode: 'sync', ownsFd: true }));
  let payload = 0;
  for (;;) {
    const tag = await reader.getBe64('marker');
    if (tag === END_OF_STATE) break;
    if (tag !== DEV_DATA_STATE) throw new Error(`unexpected marker 0x${tag.toString(16)} at ${reader.offset - 8}`);
    const n = await reader.getBe64Number('block length');
    await reader.copyTo(n, out, { scratch, what: 'block payload' });
    payload += n;
  }
  const trailing = !(await reader.isAtEnd());
  await reader.close();
  fs.closeSync(sinkFd);
  await drainer;
  const t1 = now();
  const c1 = cpuSeconds();
  if (trailing) throw new Error('bytes after END_OF_STATE');
  if (payload !== BYTES) throw new Error(`read ${payload} payload bytes, expected ${BYTES}`);
  return { wall: t1 - t0, cpu: c1 - c0 };
}

/** Load side, reference: `cat FRAMED > /dev/null` or `cat FRAMED | cat > /dev/null`. */
async function catRead(sink) {
  const devnull = fs.openSync('/dev/null', 'w');
  const t0 = now();
  const c0 = cpuSeconds();
  let done;
  if (sink === 'null') done = run('cat', [framedPath], ['ignore', devnull, 'inherit']);
  else {
    const { readFd, writeFd } = makePipe();
    done = Promise.all([
      run('cat', [framedPath], ['ignore', writeFd, 'inherit']),
      run('cat', [], [readFd, devnull, 'inherit']),
    ]);
    fs.closeSync(readFd);
    fs.closeSync(writeFd);
  }
  await done;
  const t1 = now();
  const c1 = cpuSeconds();
  fs.closeSync(devnull);
  return { wall: t1 - t0, cpu: c1 - c0 };
}

/** Independent structure check of the framed file with plain positional reads. */
function verifyFramedFile() {
  const size = fs.statSync(framedPath).size;
  if (size !== framedSize) throw new Error(`framed file is ${size} bytes, expected ${framedSize}`);
  const fd = fs.openSync(framedPath, 'r');
  try {
    const h = Buffer.alloc(HEADER);
    let pos = 0;
    for (let i = 0; i < blocks; i++) {
      const n = Math.min(BLOCK, BYTES - i * BLOCK);
      fs.readSync(fd, h, 0, HEADER, pos);
      if (h.readBigUInt64BE(0) !== DEV_DATA_STATE || h.readBigUInt64BE(8) !== BigInt(n)) {
        throw new Error(`block ${i} at offset ${pos}: bad header ${h.toString('hex')}`);
      }
      pos += HEADER + n;
    }
    fs.readSync(fd, h, 0, 8, pos);
    if (h.readBigUInt64BE(0) !== END_OF_STATE) throw new Error(`no END_OF_STATE at ${pos}`);
  } finally {
    fs.closeSync(fd);
  }
}



async function main() {
  log(`stream-1mib-blocks: ${BYTES} bytes, ${RUNS} runs per variant, pinned to CPU ${allowedCpus()}, tmp ${tmp}`);
  log(`  load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (the machine is shared: other load slows both sides)`);
  const results = [];
  const cpuResults = [];
  const add = (name, refName, t) => {
    const [wall, cpu] = throughputResults(name, refName, t, BYTES);
    results.push(wall);
    cpuResults.push(cpu);
  };
  const compare = (label, nodeFn, refFn) => compareAlternately(label, 'cat', nodeFn, refFn, { bytes: BYTES, runs: RUNS });

  const wNull = await compare('write → /dev/null', () => nodeWrite('/dev/null'), () => catWrite('/dev/null'));
  add('stream.write-1MiB-blocks.devnull', 'cat: datagen | cat > /dev/null', wNull);

  const wTmpfs = await compare('write → tmpfs', () => nodeWrite(framedPath), () => catWrite(catOutPath));
  add('stream.write-1MiB-blocks.tmpfs', 'cat: datagen | cat > /dev/shm file', wTmpfs);
  fs.rmSync(catOutPath, { force: true });

  // The last Node run left the framed file: check it once, structure and payload.
  verifyFramedFile();
  await nodeRead('pipe', [datagen, ['verify', String(BYTES)]]);
  log('  verified: framed file structure, and read-back payload identical to the producer');

  const rNull = await compare('read → /dev/null', () => nodeRead('null'), () => catRead('null'));
  add('stream.read-1MiB-blocks.devnull', 'cat: cat framed > /dev/null', rNull);

  const rPipe = await compare('read → pipe → cat', () => nodeRead('pipe'), () => catRead('pipe'));
  add('stream.read-1MiB-blocks.pipe', 'cat: cat framed | cat > /dev/null', rPipe);

  process.stdout.write(`${JSON.stringify([...results, ...cpuResults])}\n`);
}

try {
  await main();
} finally {
  cleanup();
}
