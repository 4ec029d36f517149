// zero-page: ways to tell a 4 KiB page of zeros from any other, on 256 MiB where every fourth
// page is zero and the rest random (what @savevm/ram's zeroPageTest chose from).
//   u32or       : 32-bit words OR-ed together, the whole page (first word checked first)
//   u32early    : 32-bit words, four at a time, stop at the first non-zero
//   f64         : Float64Array, stop at the first non-zero — NOT exact: -0.0 === 0
//   b64         : BigUint64Array, stop at the first non-zero
//   compare     : Buffer.compare against a page of zeros (native memcmp)
//   hybrid      : first and last 32-bit words, then Buffer.compare (what the package uses)
// Run: node bench/experiments/zero-page.mjs
import { randomFillSync } from 'node:crypto';
import { median } from '../lib/common.mjs';

const PAGES = 65536;
const buf = Buffer.allocUnsafeSlow(PAGES * 4096);
randomFillSync(buf);
for (let p = 0; p < PAGES; p += 4) buf.fill(0, p * 4096, p * 4096 + 4096);
const u32 = new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4);
const f64 = new Float64Array(buf.buffer, buf.byteOffset, buf.length / 8);
const b64 = new BigUint64Array(buf.buffer, buf.byteOffset, buf.length / 8);
const ZERO = Buffer.alloc(4096);

const tests = {
  u32or(off) {
    const w = off >>> 2;
    if (u32[w] !== 0) return false;
    let acc = 0;
    for (let i = w; i < w + 1024; i += 8) acc |= u32[i] | u32[i + 1] | u32[i + 2] | u32[i + 3] | u32[i + 4] | u32[i + 5] | u32[i + 6] | u32[i + 7];
    return acc === 0;
  },
  u32early(off) {
    const w = off >>> 2;
    for (let i = w; i < w + 1024; i += 4) if ((u32[i] | u32[i + 1] | u32[i + 2] | u32[i + 3]) !== 0) return false;
    return true;
  },
  f64(off) {
    const w = off >>> 3;
    for (let i = w; i < w + 512; i += 4) if (f64[i] !== 0 || f64[i + 1] !== 0 || f64[i + 2] !== 0 || f64[i + 3] !== 0) return false;
    return true;
  },
  b64(off) {
    const w = off >>> 3;
    for (let i = w; i < w + 512; i++) if (b64[i] !== 0n) return false;
    return true;
  },
  compare(off) {
    return buf.compare(ZERO, 0, 4096, off, off + 4096) === 0;
  },
  hybrid(off) {
    const w = off >>> 2;
    if ((u32[w] | u32[w + 1023]) !== 0) return false;
    return buf.compare(ZERO, 0, 4096, off, off + 4096) === 0;
  },
};

for (const [name, fn] of Object.entries(tests)) {
  const times = [];
  for (let r = 0; r < 6; r++) {
    const t = process.hrtime.bigint();
    let n = 0;
    for (let p = 0; p < PAGES; p++) if (fn(p * 4096)) n++;
    if (n !== PAGES / 4) throw new Error(`${name} found ${n} zero pages`);
    if (r > 0) times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  console.log(`${name.padEnd(9)} ${median(times).toFixed(1).padStart(6)} ms per 256 MiB (${PAGES} pages, a quarter zero)`);
}
