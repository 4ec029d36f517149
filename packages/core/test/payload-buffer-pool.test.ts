/**
 * The destination's reusable device-state payload buffers (docs/design/multifd.md, "Memory on
 * the bulk path"): a released buffer comes back for the same size only, once, and never more
 * free bytes are kept than the cap.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PayloadBufferPool } from '../src/multifd/payload-buffer-pool.js';

describe('PayloadBufferPool', () => {
  it('gives a released buffer back for its exact size only', () => {
    const pool = new PayloadBufferPool(1 << 20);
    const a = pool.take(100);
    expect(a.byteLength).toBe(100);
    pool.releaserOf(a)();
    expect(pool.freeBytes).toBe(100);
    expect(pool.take(101)).not.toBe(a);
    expect(pool.take(100)).toBe(a);
    expect(pool.freeBytes).toBe(0);
  });

  it('keeps no more free bytes than its cap, and no empty buffers', () => {
    const pool = new PayloadBufferPool(250);
    const buffers = [pool.take(100), pool.take(100), pool.take(100), pool.take(0)];
    for (const b of buffers) pool.releaserOf(b)();
    expect(pool.freeBytes).toBe(200);
  });

  it('never hands one buffer to two takers, whatever the order of takes and releases', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ take: fc.constantFrom(8, 16, 24) }), fc.record({ release: fc.nat(20), times: fc.integer({ min: 1, max: 3 }) })), { maxLength: 60 }),
        fc.integer({ min: 0, max: 64 }),
        (steps, cap) => {
          const pool = new PayloadBufferPool(cap);
          const held: { buffer: Buffer; release: () => void }[] = [];
          for (const step of steps) {
            if ('take' in step) {
              const buffer = pool.take(step.take);
              expect(buffer.byteLength).toBe(step.take);
              expect(held.some((h) => h.buffer === buffer)).toBe(false);
              held.push({ buffer, release: pool.releaserOf(buffer) });
            } else if (held.length > 0) {
              const [h] = held.splice(step.release % held.length, 1);
              for (let i = 0; i < step.times; i++) h?.release();
            }
            expect(pool.freeBytes).toBeLessThanOrEqual(cap);
          }
        },
      ),
    );
  });
});
