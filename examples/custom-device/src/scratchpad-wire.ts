/**
 * Step 3 of the template: the format of the live sections (START, PART, END).
 *
 * Live data is yours to frame; the only rule is that `loadState` must read exactly the
 * bytes `saveSetup` / `saveLiveIterate` / `saveLiveCompletePrecopy` wrote, or the
 * section footer check fails. A small tagged record format keeps that easy and
 * versionable: every body is a list of records ending with `END_OF_BODY`.
 */
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';

/** Record tags of the scratchpad's live bodies. */
export const ScratchpadTag = {
  /** Ends every body. */
  END_OF_BODY: 0x00,
  /** Geometry check, in the setup body: be32 page count, be32 page size. */
  CONFIG: 0x01,
  /** One page: be32 index, then the page's bytes. */
  PAGE: 0x02,
  /** In the last live body: every page has been sent; the registers (FULL section) come next. */
  LIVE_DONE: 0x03,
} as const;

/** Writes a CONFIG record. */
export function writeConfig(f: QemuFileWriter, pageCount: number, pageSize: number): void {
  f.putU8(ScratchpadTag.CONFIG);
  f.putBe32(pageCount);
  f.putBe32(pageSize);
}

/**
 * Writes a PAGE record. The page is live memory the guest may change while the bytes wait
 * for a slow channel, so the writer takes a copy (see `docs/writing-a-device-handler.md`).
 */
export function writePage(f: QemuFileWriter, index: number, bytes: Uint8Array): void {
  f.putU8(ScratchpadTag.PAGE);
  f.putBe32(index);
  f.putBuffer(bytes, 'copy');
}

/** Writes a bare tag (END_OF_BODY, LIVE_DONE). */
export function writeTag(f: QemuFileWriter, tag: number): void {
  f.putU8(tag);
}

/** Reads a record's tag. */
export async function readTag(f: QemuFileReader): Promise<number> {
  return f.getU8('a scratchpad record tag');
}
