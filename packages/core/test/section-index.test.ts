import { describe, expect, it } from 'vitest';
import { SectionIndex } from '../src/driver/destination/section-index.js';

describe('SectionIndex: section id → list position', () => {
  it('holds ids in registration order, ids out of order, hostile ids, and an id the array later reaches', () => {
    const index = new SectionIndex();
    index.set(0, 10);
    index.set(2, 12);
    index.set(0xffffffff, 99);
    expect([index.get(0), index.get(1), index.get(2), index.get(0xffffffff)]).toEqual([10, undefined, 12, 99]);
    index.set(1, 11);
    index.set(2, 22); // the array reaches 2: the map's older value is gone
    expect([index.get(1), index.get(2), index.get(3)]).toEqual([11, 22, undefined]);
    index.set(1, 21);
    expect(index.get(1)).toBe(21);
  });
});
