/**
 * Dirty tracking: the bitmap against a model (fast-check), the kernel's little-endian
 * bitmap layout, zero-page detection, and the tracker composing sources as QEMU's memory
 * listeners (start/sync/stop per block, clear on read, every started source stopped).
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  DirtyBitmap,
  DirtyTracker,
  GuestRam,
  RamBlockError,
  RamMigration,
  type DirtySource,
  type RamBlock,
} from '../src/index.js';
import { isZeroPage, zeroPageTest } from '../src/zero-page.js';
import { memoryWriter } from './helpers/bytes.js';

type Op =
  | { kind: 'set'; page: number }
  | { kind: 'range'; first: number; count: number }
  | { kind: 'clear'; page: number }
  | { kind: 'all' }
  | { kind: 'none' }
  | { kind: 'or'; pages: number[] };

function opArb(pages: number): fc.Arbitrary<Op> {
  const page = fc.nat({ max: pages - 1 });
  return fc.oneof(
    page.map((p) => ({ kind: 'set' as const, page: p })),
    fc.tuple(page, fc.nat({ max: 100 })).map(([first, n]) => ({ kind: 'range' as const, first, count: Math.min(n, pages - first) })),
    page.map((p) => ({ kind: 'clear' as const, page: p })),
    fc.constant({ kind: 'all' as const }),
    fc.constant({ kind: 'none' as const }),
    fc.array(page, { maxLength: 40 }).map((ps) => ({ kind: 'or' as const, pages: ps })),
  );
}

function setBits(b: DirtyBitmap): number[] {
  const out: number[] = [];
  for (let p = b.nextSet(0); p >= 0; p = b.nextSet(p + 1)) out.push(p);
  return out;
}

describe('DirtyBitmap', () => {
  test.prop([fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.constant(n), fc.array(opArb(n), { maxLength: 40 })))])(
    'behaves as a set of pages: set, ranges, test-and-clear, all, OR of another bitmap (clear on read), count, next set',
    ([pages, ops]) => {
      const b = new DirtyBitmap(pages);
      const model = new Set<number>();
      for (const op of ops) {
        switch (op.kind) {
          case 'set':
            expect(b.set(op.page)).toBe(!model.has(op.page));
            model.add(op.page);
            break;
          case 'range': {
            let fresh = 0;
            for (let p = op.first; p < op.first + op.count; p++) if (!model.has(p)) fresh++, model.add(p);
            expect(b.setRange(op.first, op.count)).toBe(fresh);
            break;
          }
          case 'clear':
            expect(b.testAndClear(op.page)).toBe(model.delete(op.page));
            break;
          case 'all':
            b.setAll();
            for (let p = 0; p < pages; p++) model.add(p);
            break;
          case 'none':
            b.clearAll();
            model.clear();
            break;
          case 'or': {
            const other = new DirtyBitmap(pages);
            for (const p of op.pages) other.set(p);
            const fresh = new Set(op.pages.filter((p) => !model.has(p))).size;
            expect(b.takeFrom(other)).toBe(fresh);
            expect(other.count).toBe(0);
            expect(setBits(other)).toEqual([]);
            for (const p of op.pages) model.add(p);
            break;
          }
        }
        expect(b.count).toBe(model.size);
      }
      expect(setBits(b)).toEqual([...model].sort((x, y) => x - y));
      expect(b.recount()).toBe(model.size);
    },
  );

  test.prop([fc.integer({ min: 1, max: 200 }), fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.integer({ min: 0, max: 3 })])(
    'ORs in a little-endian byte bitmap (the kernel layout) at any page, ignoring bits past the end',
    (pages, bytes, shift) => {
      const first = shift * 32 < pages ? shift * 32 : 0;
      const b = new DirtyBitmap(pages);
      b.orLittleEndianBytes(bytes, first);
      const odd = new DirtyBitmap(pages);
      odd.orLittleEndianBytes(bytes, Math.min(first + 1, pages));
      const expected: number[] = [];
      const expectedOdd: number[] = [];
      for (let n = 0; n < bytes.length * 8; n++) {
        if (((bytes[n >> 3] as number) & (1 << (n & 7))) === 0) continue;
        if (first + n < pages) expected.push(first + n);
        if (Math.min(first + 1, pages) + n < pages) expectedOdd.push(Math.min(first + 1, pages) + n);
      }
      expect(setBits(b)).toEqual(expected);
      expect(b.count).toBe(expected.length);
      expect(setBits(odd)).toEqual(expectedOdd);
    },
  );

  it('uses the kernel layout: page n is bit n % 8 of byte n / 8 (on this little-endian host)', () => {
    const b = new DirtyBitmap(64);
    b.set(0);
    b.set(9);
    b.set(63);
    expect(Buffer.from(b.words.buffer).toString('hex')).toBe('0102000000000080');
  });
});

describe('zero-page detection', () => {
  test.prop([fc.nat({ max: 4095 }), fc.integer({ min: 1, max: 255 }), fc.nat({ max: 3 })])('any single non-zero byte makes a page non-zero, at any alignment', (at, value, skew) => {
    const raw = Buffer.alloc(3 * 4096 + 8);
    const bytes = raw.subarray(skew, skew + 2 * 4096);
    bytes[4096 + at] = value;
    const test = zeroPageTest(bytes);
    expect(test(0)).toBe(true);
    expect(test(4096)).toBe(false);
    expect(isZeroPage(bytes, 4096)).toBe(false);
  });

  it('a page holding the bits of -0.0 is not zero (why no Float64Array view)', () => {
    const bytes = Buffer.alloc(4096);
    bytes.writeDoubleLE(-0, 8);
    expect(zeroPageTest(bytes)(0)).toBe(false);
  });
});

/** A source that records its calls and reports a kernel-style bitmap per block. */
class RecordingSource implements DirtySource {
  readonly calls: string[] = [];
  readonly pending = new Map<string, number[]>();
  constructor(
    readonly name: string,
    private readonly failStopOf?: string,
  ) {}
  start(block: RamBlock): void {
    this.calls.push(`start ${block.idstr}`);
  }
  async sync(block: RamBlock, into: DirtyBitmap): Promise<void> {
    this.calls.push(`sync ${block.idstr}`);
    const pages = this.pending.get(block.idstr) ?? [];
    this.pending.delete(block.idstr);
    const bitmap = new Uint8Array(Math.ceil(block.pageCount / 64) * 8);
    for (const p of pages) bitmap[p >> 3] = (bitmap[p >> 3] as number) | (1 << (p & 7));
    into.orLittleEndianBytes(bitmap);
  }
  stop(block: RamBlock): void {
    this.calls.push(`stop ${block.idstr}`);
    if (block.idstr === this.failStopOf) throw new Error(`stop ${block.idstr} failed`);
  }
}

describe('DirtyTracker and dirty sources', () => {
  it('starts every source per block with every page dirty, syncs them all (clear on read), stops each once', async () => {
    const ram = new GuestRam();
    const a = ram.addBlock('a', Buffer.alloc(4 * 4096));
    const b = ram.addBlock('b', Buffer.alloc(70 * 4096));
    const dma = new RecordingSource('dma');
    ram.addDirtySource(dma);
    const tracker = new DirtyTracker(ram.blocks, ram.dirtySources);
    await tracker.start();
    expect(tracker.dirtyPages).toBe(74);
    expect(dma.calls).toEqual(['start a', 'start b', 'sync a', 'sync b']);
    for (const bm of tracker.bitmaps) bm.clearAll();
    ram.markDirty(a, 4095, 2); // pages 0 and 1 of a
    dma.pending.set('b', [0, 65, 69]);
    expect(await tracker.sync()).toBe(5);
    expect(await tracker.sync()).toBe(0); // clear on read: nothing new
    expect(tracker.bitmaps.map((bm) => setBits(bm))).toEqual([[0, 1], [0, 65, 69]]);
    expect(ram.software.isTracking(b)).toBe(true);
    await tracker.stop();
    expect(ram.software.isTracking(b)).toBe(false);
    expect(dma.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop a', 'stop b']);
  });

  it('stops every started source even when one stop fails, then reports that failure', async () => {
    const ram = new GuestRam();
    ram.addBlock('a', Buffer.alloc(4096));
    ram.addBlock('b', Buffer.alloc(4096));
    const bad = new RecordingSource('bad', 'a');
    const good = new RecordingSource('good');
    ram.addDirtySource(bad);
    ram.addDirtySource(good);
    const tracker = new DirtyTracker(ram.blocks, ram.dirtySources);
    await tracker.start();
    await expect(tracker.stop()).rejects.toThrow('stop a failed');
    expect(good.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop a', 'stop b']);
    expect(bad.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop a', 'stop b']);
  });

  it('a DMA source\'s pages are sent again by the RAM handlers like the VMM\'s own writes', async () => {
    const ram = new GuestRam();
    const block = ram.addBlock('ram', Buffer.alloc(8 * 4096, 1));
    const dma = new RecordingSource('dma');
    ram.addDirtySource(dma);
    const m = new RamMigration(ram);
    const { f } = memoryWriter();
    await m.saveSetup(f);
    expect(await m.saveLiveIterate(f)).toBe(true);
    expect(m.statePendingEstimate().mustPrecopy).toBe(0);
    block.bytes[3 * 4096] = 2; // a device wrote page 3
    dma.pending.set('ram', [3]);
    expect((await m.statePendingExact()).mustPrecopy).toBe(4096);
    await m.saveLiveIterate(f);
    expect(m.saver.stats.pages).toBe(9);
    await m.saveCleanup();
    expect(dma.calls.at(-1)).toBe('stop ram');
  });

  it('refuses changes to the block list or the sources while a migration runs, and bad blocks', async () => {
    const ram = new GuestRam();
    ram.addBlock('ram', Buffer.alloc(4096));
    expect(() => ram.addBlock('ram', Buffer.alloc(4096))).toThrow(RamBlockError);
    expect(() => ram.addBlock('odd', Buffer.alloc(4097))).toThrow(/not a positive multiple/);
    expect(() => ram.addBlock('', Buffer.alloc(4096))).toThrow(/empty/);
    expect(() => ram.addBlock('x'.repeat(256), Buffer.alloc(4096))).toThrow(/more than 255/);
    expect(() => ram.addBlock('a\0b', Buffer.alloc(4096))).toThrow(/NUL/);
    expect(() => ram.addBlock('gpa', Buffer.alloc(4096), { guestAddress: 0x1001 })).toThrow(/page-aligned/);
    expect(ram.addBlock('high', Buffer.alloc(4096), { guestAddress: 0x1_0000_0000 }).guestAddress).toBe(0x1_0000_0000);
    ram.removeBlock('high');
    expect(() => ram.markDirty('ram', 4000, 97)).toThrow(/outside/);
    expect(() => ram.markDirty('nosuch', 0, 1)).toThrow(/no such block/);
    const m = new RamMigration(ram);
    await m.saveSetup(memoryWriter().f);
    expect(() => ram.addBlock('late', Buffer.alloc(4096))).toThrow(/while a migration runs/);
    expect(() => ram.addDirtySource(new RecordingSource('late'))).toThrow(/while a migration runs/);
    await m.saveCleanup();
    ram.addBlock('late', Buffer.alloc(4096));
  });

  it('works on memory in a SharedArrayBuffer', async () => {
    const ram = new GuestRam();
    const shared = new Uint8Array(new SharedArrayBuffer(2 * 4096));
    shared[4096] = 7;
    const block = ram.addBlock('shared', shared);
    expect(block.bytes[4096]).toBe(7);
    block.bytes[5] = 9;
    expect(shared[5]).toBe(9);
  });
});
