// ram-write-path: how to put 4 KiB page records (8-byte header + page) into a 64 KiB pipe
// drained by `cat > /dev/null`, everything on one CPU — the savevm save path broken down.
//   gather  : QemuFileWriter as @savevm/ram uses it (header puts + putBuffer(page): each page is
//             copied into the writer's 32 KiB buffer, one writev per 32 KiB)
//   staging : records copied into a 256 KiB (1 MiB) buffer by hand, one write per buffer
//   iovec   : no copy: writev of [header, page view, header, page view, …], 1024 (64, as
//             QEMU's MAX_IOV_SIZE) iovecs a call
//   raw     : the pages alone, one writev per 128 KiB of page views (no headers: the floor)
// Run: node bench/experiments/ram-write-path.mjs [MiB] (default 256).
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import { FdChannel, QemuFileWriter } from '@savevm/stream';
import { median, now } from '../lib/common.mjs';
import { alignedBuffer, makePipe, pinToCpu } from '../lib/native.mjs';

const SIZE = Number(process.argv[2] ?? 256) << 20;
const PAGES = SIZE / 4096;
pinToCpu(process.env.BENCH_CPU ?? '0');
const mem = alignedBuffer(SIZE, 2 << 20);
randomFillSync(mem);

async function withPipe(body) {
  const { readFd, writeFd } = makePipe(64 * 1024);
  const devnull = fs.openSync('/dev/null', 'w');
  const cat = spawn('cat', [], { stdio: [readFd, devnull, 'inherit'] });
  const done = new Promise((r) => cat.once('exit', r));
  fs.closeSync(readFd);
  fs.closeSync(devnull);
  const t0 = now();
  await body(writeFd);
  const t1 = now();
  fs.closeSync(writeFd);
  await done;
  return t1 - t0;
}

const header = (i) => {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(Math.floor((i * 4096) / 2 ** 32), 0);
  h.writeUInt32BE(((i * 4096) % 2 ** 32) + 0x28, 4);
  return h;
};

const variants = {
  async gather(fd) {
    const f = new QemuFileWriter(new FdChannel(fd, { mode: 'sync' }), { synchronous: true });
    for (let i = 0; i < PAGES; i++) {
      const off = i * 4096;
      f.putBe32(Math.floor(off / 2 ** 32));
      f.putBe32((off % 2 ** 32) + 0x28);
      f.putBuffer(mem.subarray(off, off + 4096), 'lend');
    }
    await f.flush();
  },
  staging: (fd) => staging(fd, 256 * 1024),
  'staging-1M': (fd) => staging(fd, 1024 * 1024),
  iovec: (fd) => iovec(fd, 1024),
  'iovec-64': (fd) => iovec(fd, 64),
  async raw(fd) {
    for (let off = 0; off < SIZE; off += 128 * 1024) writeAll(fd, [mem.subarray(off, off + 128 * 1024)]);
  },
};

async function staging(fd, size) {
    const stage = alignedBuffer(size + 4096 * 2);
    let used = 0;
    for (let i = 0; i < PAGES; i++) {
      const off = i * 4096;
      if (used + 4104 > size) {
        fs.writeSync(fd, stage, 0, used);
        used = 0;
      }
      stage.writeUInt32BE(Math.floor(off / 2 ** 32), used);
      stage.writeUInt32BE((off % 2 ** 32) + 0x28, used + 4);
      mem.copy(stage, used + 8, off, off + 4096);
      used += 4104;
    }
    fs.writeSync(fd, stage, 0, used);
}

async function iovec(fd, entries) {
    const heads = Buffer.alloc(512 * 8);
    let iov = [];
    for (let i = 0; i < PAGES; i++) {
      const off = i * 4096;
      const k = iov.length >> 1;
      heads.writeUInt32BE(Math.floor(off / 2 ** 32), k * 8);
      heads.writeUInt32BE((off % 2 ** 32) + 0x28, k * 8 + 4);
      iov.push(heads.subarray(k * 8, k * 8 + 8), mem.subarray(off, off + 4096));
      if (iov.length === entries) {
        writeAll(fd, iov);
        iov = [];
      }
    }
    if (iov.length) writeAll(fd, iov);
}

function writeAll(fd, iov) {
  let total = iov.reduce((n, b) => n + b.length, 0);
  while (total > 0) {
    const n = fs.writevSync(fd, iov);
    total -= n;
    if (total === 0) break;
    let skip = n;
    const rest = [];
    for (const b of iov) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    iov = rest;
  }
}

const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let r = 0; r < 6; r++) for (const [k, v] of Object.entries(variants)) times[k].push(await withPipe(v));
for (const [k, t] of Object.entries(times)) {
  const m = median(t.slice(1));
  console.log(`${k.padEnd(8)} ${(SIZE / m / 1e9).toFixed(2)} GB/s  (median of ${t.length - 1}, ms: ${t.slice(1).map((x) => (x * 1000).toFixed(0)).join(' ')})`);
}
