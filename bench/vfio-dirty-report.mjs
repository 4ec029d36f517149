// vfio-dirty-report: fetching and merging one DMA dirty bitmap for 1 GiB mapped (BENCH_BYTES /
// 4096 = 262,144 pages) through each mechanism on the emulated kernel, in ms (lower is better).
//
// savevm: @savevm/vfio-v2's VfioDmaDirtyTracking.sync(block, bitmap) — zero a scratch bitmap,
// the mechanism's ioctl on the emulated kernel (device DMA_LOGGING_REPORT, type1 DIRTY_PAGES
// GET_BITMAP, or iommufd HWPT_GET_DIRTY_BITMAP: the kernel side fills the caller's u64 bitmap
// and clears its own log), then DirtyBitmap.orLittleEndianBytes into the migration bitmap
// (OR, new pages counted). 1 % of the pages were written by the device's DMA before each
// round (untimed, the same pages every round).
// Reference: the merge alone, in a plain loop over a Uint8Array: OR the same 32 KiB bitmap
// into a Uint8Array byte by byte, counting the new bits (popcount table), after the same
// untimed writes (8 bytes into each of the pages of a 1 GiB buffer, their bits set).
// 201 rounds each after 100 untimed ones, the four interleaved; the medians.
// ratio = savevm ms ÷ reference ms (lower is better; the goal, reference ÷ savevm ≥ 0.8, is a ratio ≤ 1.25).
import { DirtyBitmap, GuestRam } from '@savevm/ram';
import { IommufdContext, VfioContainer } from '@savevm/vfio';
import { EmulatedVfioKernel } from '@savevm/vfio/emulated';
import { IommufdDmaBackend, Type1DmaBackend, VfioDmaDirtyTracking } from '@savevm/vfio-v2';
import { MigrationBlockers } from '@savevm/core';
import { benchBytes, log, median, now, result } from './lib/common.mjs';

const BYTES = benchBytes();
const PAGES = Math.floor(BYTES / 4096);
const DIRTY = Math.floor(PAGES / 100);
const ROUNDS = 201;
const WARMUP = 100;
const label = BYTES === 2 ** 30 ? '1GiB' : `${BYTES}B`;

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
const word = new Uint8Array(8);

/** One VM: a device whose abilities lead to `mechanism`, 1 GiB mapped at IOVA 0. */
function world(mechanism) {
  const kernel = new EmulatedVfioKernel();
  const config = {
    'device-dma-logging': { dmaLogging: true },
    'type1-container': {},
    'iommufd-hwpt': { iommu: 'physical', iommuDirtyTracking: true },
  }[mechanism];
  const node = kernel.addDevice({ name: 'gpu0', stateSize: 4096, ...config });
  let device;
  let backend;
  if (mechanism === 'iommufd-hwpt') {
    const context = IommufdContext.open({ syscalls: kernel });
    device = context.openDevice(node);
    backend = new IommufdDmaBackend(context);
  } else {
    const container = VfioContainer.open({ syscalls: kernel });
    device = container.openDevice(node);
    backend = new Type1DmaBackend(container);
  }
  const tracking = new VfioDmaDirtyTracking(backend, { blockers: new MigrationBlockers() });
  tracking.addDevice(device, { enableMigration: 'on' });
  const ram = new GuestRam();
  // Untouched memory: only the pages the DMA writes are ever faulted in.
  const block = ram.addBlock('ram', new Uint8Array(PAGES * 4096), { guestAddress: 0 });
  tracking.mapBlock(block);
  return { model: node.model, tracking, block };
}

/** One timed fetch-and-merge through a mechanism, the device having written the 1 % first (untimed). */
function mechanismRound(w) {
  for (const p of list) {
    if (!w.model.dma.writeAt(p * 4096, word)) throw new Error('the device did not write');
  }
  w.bitmap.clearAll();
  const t0 = now();
  w.tracking.sync(w.block, w.bitmap);
  const t1 = now();
  if (w.bitmap.count !== DIRTY) throw new Error(`${w.mechanism}: ${w.bitmap.count} pages merged, expected ${DIRTY}`);
  return (t1 - t0) * 1000;
}

// The reference: the same writes (untimed, as the device's are: 8 bytes into each page of
// a 1 GiB buffer, its bit set in a plain Uint8Array bitmap), then that bitmap merged byte by
// byte into another one, counting the new bits.
const refRam = new Uint8Array(PAGES * 4096);
const refSrc = new Uint8Array(Math.ceil(PAGES / 64) * 8);
const refDst = new Uint8Array(refSrc.length);
const pop = new Uint8Array(256);
for (let i = 1; i < 256; i++) pop[i] = (i & 1) + pop[i >> 1];
function referenceRound() {
  refSrc.fill(0);
  for (const p of list) {
    refRam.set(word, p * 4096);
    refSrc[p >> 3] |= 1 << (p & 7);
  }
  refDst.fill(0);
  const t0 = now();
  let added = 0;
  for (let i = 0; i < refSrc.length; i++) {
    const s = refSrc[i];
    if (s === 0) continue;
    const fresh = s & ~refDst[i];
    if (fresh !== 0) {
      added += pop[fresh];
      refDst[i] |= s;
    }
  }
  const t1 = now();
  if (added !== DIRTY) throw new Error(`reference merged ${added}, expected ${DIRTY}`);
  return (t1 - t0) * 1000;
}

const MECHANISMS = ['device-dma-logging', 'type1-container', 'iommufd-hwpt'];
const worlds = MECHANISMS.map((mechanism) => {
  const w = world(mechanism);
  if (w.tracking.chooseMechanism() !== mechanism) throw new Error(`expected ${mechanism}, the policy chose ${w.tracking.chooseMechanism()}`);
  w.tracking.start(w.block);
  return { ...w, mechanism, bitmap: new DirtyBitmap(w.block.pageCount), times: [] };
});
// Rounds interleave the reference and the three mechanisms, so a busy machine slows all alike.
const refTimes = [];
for (let r = 0; r < WARMUP + ROUNDS; r++) {
  const ref = referenceRound();
  if (r >= WARMUP) refTimes.push(ref);
  for (const w of worlds) {
    const t = mechanismRound(w);
    if (r >= WARMUP) w.times.push(t);
  }
}
const refMs = median(refTimes);
const results = [];
for (const w of worlds) {
  w.tracking.stop(w.block);
  const ms = median(w.times);
  log(`vfio-dirty-report ${w.mechanism}: ${PAGES} pages, ${DIRTY} dirty; median ${ms.toFixed(4)} ms (reference ${refMs.toFixed(4)} ms: speed ratio ${(refMs / ms).toFixed(2)})`);
  results.push(result(`vfio.dirty-report-${label}.${w.mechanism}`, 'ms', Number(ms.toFixed(4)), { name: 'plain loop: OR the bitmap into a Uint8Array byte by byte, counting new bits', value: Number(refMs.toFixed(4)) }));
}
process.stdout.write(`${JSON.stringify(results)}\n`);
