// ram-dirty-sync: one dirty-bitmap sync and scan over 1 GiB of guest RAM (BENCH_BYTES / 4096
// pages = 262,144) with 1 % of the pages dirty, in ms (lower is better; goal ≤ 2 ms).
//
// savevm: @savevm/ram's DirtyTracker with the software source — the pages are marked with
// GuestRam.markDirty (untimed), then the timed part is `tracker.sync()` (the log moved into
// the migration bitmap, clear on read, new pages counted) followed by the page scan the saver
// does (`nextSet` + `testAndClear` over every dirty page).
// Reference: the same two steps in C (bench/lib/dirty-sync-ref.c, gcc -O2) on the same pages:
// QEMU's fast path (atomic exchange per 64-bit word, OR, popcount) and find_next_bit + clear.
// 31 rounds each after 5 untimed ones; the median. ratio = savevm ms ÷ C ms (lower is better).
import { execFileSync } from 'node:child_process';
import { DirtyTracker, GuestRam } from '@savevm/ram';
import { benchBytes, log, median, now, result } from './lib/common.mjs';
import { buildC } from './lib/native.mjs';

const BYTES = benchBytes();
const PAGES = Math.floor(BYTES / 4096);
const DIRTY = Math.floor(PAGES / 100);
const ROUNDS = 31;
const WARMUP = 5;

// The same 1 % of pages every round (a fixed pseudo-random set).
const pages = new Set();
let x = 0x9e3779b9;
while (pages.size < DIRTY) {
  x ^= x << 13;
  x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5;
  x >>>= 0;
  pages.add(x % PAGES);
}
const list = [...pages];

const ram = new GuestRam();
// Untouched memory: never faulted in, the bitmaps are all that is used.
const block = ram.addBlock('ram', new Uint8Array(PAGES * 4096));
const tracker = new DirtyTracker(ram.blocks, ram.dirtySources);
await tracker.start();
const bitmap = tracker.bitmaps[0];
bitmap.clearAll();

const times = [];
let found = 0;
for (let r = 0; r < WARMUP + ROUNDS; r++) {
  for (const p of list) ram.markDirty(block, p * 4096, 1);
  const t0 = now();
  const added = await tracker.sync();
  let n = 0;
  for (let p = bitmap.nextSet(0); p >= 0; p = bitmap.nextSet(p + 1)) {
    bitmap.testAndClear(p);
    n++;
  }
  const t1 = now();
  if (added !== DIRTY || n !== DIRTY) throw new Error(`sync found ${added}, scan ${n}, expected ${DIRTY}`);
  found += n;
  if (r >= WARMUP) times.push((t1 - t0) * 1000);
}
await tracker.stop();

const ref = buildC('dirty-sync-ref');
const refMs = Number(execFileSync(ref, [String(PAGES), String(ROUNDS + WARMUP)], { input: list.join('\n') }).toString().trim());
const ms = median(times);
log(`ram-dirty-sync: ${PAGES} pages, ${DIRTY} dirty; savevm ms [${times.map((t) => t.toFixed(3)).join(' ')}]; C ${refMs.toFixed(3)} ms (${found} pages scanned)`);
const label = BYTES === 2 ** 30 ? '1GiB' : `${BYTES}B`;
process.stdout.write(
  `${JSON.stringify([result(`ram.dirty-sync-${label}`, 'ms', Number(ms.toFixed(4)), { name: 'C: QEMU-style sync (xchg, OR, popcount) + find_next_bit scan', value: Number(refMs.toFixed(4)) })])}\n`,
);
