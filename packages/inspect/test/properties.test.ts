import { fc, test } from '@fast-check/vitest';
import { StreamError } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { inspectStream } from '../src/index.js';
import { ALL_VECTORS, vectorBytes } from './fixtures/vectors.js';

/** Every 7.2 vector; of 10.0's, the small ones and one large one per machine (each large one takes seconds). */
const TRUNCATED = ALL_VECTORS.filter(([v, n]) => v === '7.2' || n.startsWith('none') || n === 'pc-paused' || n === 'q35-running');

describe('inspecting damaged QEMU streams', () => {
  for (const [version, name] of TRUNCATED) {
    it(`truncating ${version}/${name} gives a typed error, never a hang or a wrong success`, async () => {
      const bytes = vectorBytes(name, version);
      const full = await inspectStream(bytes);
      const eof = full.records.find((r) => r.record.type === 'eof');
      const eofAt = eof?.record.offset as number;
      // Every offset of the small vectors. For the large ones (a full parse each takes
      // milliseconds): the first 512 bytes, both sides of every record boundary, body
      // start and footer, and a deterministic spread through the rest.
      let cuts: number[];
      if (bytes.length < 4096) cuts = Array.from({ length: bytes.length }, (_, i) => i);
      else {
        const set = new Set<number>();
        for (let i = 0; i < 512; i++) set.add(i);
        for (const item of full.records) {
          const r = item.record;
          const marks = [r.offset];
          if ('bodyOffset' in r) marks.push(r.bodyOffset, r.bodyOffset + (item.bodySize as number), r.bodyOffset + (item.bodySize as number) + 5);
          for (const m of marks) for (const d of [-2, -1, 0, 1, 2]) if (m + d >= 0 && m + d < bytes.length) set.add(m + d);
        }
        let x = 12345;
        for (let i = 0; i < 300; i++) {
          x = (x * 1103515245 + 12345) % 2 ** 31;
          set.add(x % bytes.length);
        }
        cuts = [...set].sort((a, b) => a - b);
      }
      for (const cut of cuts) {
        const outcome = await inspectStream(bytes.subarray(0, cut)).then(
          (r) => r,
          (e: unknown) => e,
        );
        if (cut === eofAt + 1) {
          // Exactly the device state without vmdesc: QEMU accepts that with a warning.
          expect(outcome).not.toBeInstanceOf(Error);
          expect((outcome as Awaited<ReturnType<typeof inspectStream>>).warnings).toEqual(['Expected vmdescription section, but got 0']);
        } else {
          if (!(outcome instanceof StreamError)) throw new Error(`cut at ${cut}: expected a StreamError, got ${String(outcome)}`);
        }
      }
    }, 120_000);
  }

  test.prop([fc.constantFrom(...ALL_VECTORS), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 })], {
    numRuns: Number(process.env.FLIP_RUNS ?? 200),
  })('random byte flips never crash the reader', async (vector, flips) => {
    const bytes = Buffer.from(vectorBytes(vector[1], vector[0]));
    for (const [pos, mask] of flips) {
      const at = pos % bytes.length;
      bytes[at] = (bytes[at] as number) ^ mask;
    }
    try {
      await inspectStream(bytes);
    } catch (err) {
      if (!(err instanceof StreamError)) throw err;
    }
  });
});
