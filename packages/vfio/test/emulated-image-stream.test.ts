import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { DeviceStateBytes } from '../src/emulated/device-state.js';
import { IMAGE_HEADER_SIZE, RECORD_HEADER_SIZE, TAG_DONE, TAG_PAGE, fullImageSize } from '../src/emulated/image-format.js';
import { ResumeSession } from '../src/emulated/resume-session.js';
import { SaveSession } from '../src/emulated/save-session.js';

/** The emulated device's image stream, session to session (format in image-format.ts). */
describe('emulated image stream: SaveSession → ResumeSession', () => {
  test.prop(
    [
      fc.integer({ min: 1, max: 40_000 }),
      fc.constantFrom(512, 4096, 5000),
      fc.array(fc.integer({ min: 1, max: 9_000 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 1, max: 9_000 }), { minLength: 1, maxLength: 30 }),
    ],
    { numRuns: 150 },
  )('whatever the read and write sizes and the dirtying between reads, the destination ends with the final state and the counts are exact', (stateSize, pageSize, readSizes, dirtyCounts, writeSizes) => {
    const state = new DeviceStateBytes(stateSize, pageSize, 5);
    const session = new SaveSession(state, false);
    const parts: Uint8Array[] = [];
    // Pre-copy: reads of the given sizes, the state dirtied between them.
    for (let i = 0; i < readSizes.length; i++) {
      const into = new Uint8Array(readSizes[i]!);
      const n = session.read(into);
      parts.push(into.slice(0, n));
      state.dirtyRandom(dirtyCounts[i % dirtyCounts.length]!);
    }
    session.enterFinalPhase();
    // Stop-copy: what remainingBytes announces is exactly what comes.
    const announced = session.remainingBytes();
    let rest = 0;
    for (let i = 0; ; i++) {
      const into = new Uint8Array(readSizes[i % readSizes.length]!);
      const n = session.read(into);
      if (n === 0) break;
      rest += n;
      parts.push(into.slice(0, n));
    }
    expect(rest).toBe(announced);
    expect(session.remainingBytes()).toBe(0);
    const image = Buffer.concat(parts);
    expect(session.bytesRead).toBe(image.byteLength);

    const resume = new ResumeSession(stateSize, pageSize);
    for (let at = 0, i = 0; at < image.byteLength; i++) {
      const chunk = image.subarray(at, at + writeSizes[i % writeSizes.length]!);
      expect(resume.write(chunk)).toBe(chunk.byteLength);
      at += chunk.byteLength;
    }
    expect(resume.bytesWritten).toBe(image.byteLength);
    const loaded = resume.validate();
    expect(loaded && Buffer.from(loaded).equals(Buffer.from(state.bytes))).toBe(true);
  });

  test.prop([fc.integer({ min: 1, max: 40_000 }), fc.constantFrom(512, 4096), fc.integer({ min: 1, max: 9_000 })], { numRuns: 60 })(
    'a stop-copy-only image is fullImageSize bytes: header, one record per page, the end record',
    (stateSize, pageSize, readSize) => {
      const state = new DeviceStateBytes(stateSize, pageSize, 9);
      const session = new SaveSession(state, true);
      expect(session.initialBytes()).toBe(fullImageSize(stateSize, pageSize) - RECORD_HEADER_SIZE);
      const parts: Uint8Array[] = [];
      for (;;) {
        const into = new Uint8Array(readSize);
        const n = session.read(into);
        if (n === 0) break;
        parts.push(into.slice(0, n));
      }
      const image = Buffer.concat(parts);
      expect(image.byteLength).toBe(fullImageSize(stateSize, pageSize));
      // The first record follows the header: page 0, whole (or the whole state when shorter).
      expect(image.readUInt32LE(IMAGE_HEADER_SIZE)).toBe(TAG_PAGE);
      expect(image.readUInt32LE(IMAGE_HEADER_SIZE + 4)).toBe(0);
      expect(image.readUInt32LE(IMAGE_HEADER_SIZE + 8)).toBe(Math.min(pageSize, stateSize));
      expect(image.readUInt32LE(image.byteLength - RECORD_HEADER_SIZE)).toBe(TAG_DONE);
      expect(image.readUInt32LE(image.byteLength - 4)).toBe(stateSize);
    },
  );

  test('a page dirtied while its record is half read is sent again', () => {
    const state = new DeviceStateBytes(8192, 4096, 1);
    const session = new SaveSession(state, false);
    const first = new Uint8Array(IMAGE_HEADER_SIZE + RECORD_HEADER_SIZE + 100);
    expect(session.read(first)).toBe(first.byteLength);
    const before = session.dirtyBytes();
    state.write(10, new Uint8Array([1, 2, 3]));
    expect(before).toBe(0);
    expect(session.dirtyBytes()).toBe(RECORD_HEADER_SIZE + 4096);
  });
});
