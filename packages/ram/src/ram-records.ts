/**
 * Writing the `ram` section's records (docs/design/ram-section.md §2, §3): the be64
 * offset|flags word, the counted block name, the MEM_SIZE block list and EOS.
 */
import { RamFlag, type QemuFileWriter } from '@savevm/stream';
import type { RamBlock } from './ram-block.js';

const TWO_32 = 2 ** 32;

/** Puts one record word: `offset | flags` as a be64 (`offset` page-aligned, below 2^53). */
export function putRecordWord(f: QemuFileWriter, offset: number, flags: number): void {
  const hi = Math.floor(offset / TWO_32);
  f.putBe32(hi);
  f.putBe32(offset - hi * TWO_32 + flags);
}

/** Puts a block name: u8 length, the idstr's bytes. */
export function putBlockName(f: QemuFileWriter, block: RamBlock): void {
  f.putU8(block.idBytes.length);
  f.putBuffer(block.idBytes, 'copy');
}

/** Puts MEM_SIZE with the total of the blocks' used lengths, then each block's name and used length. */
export function putBlockList(f: QemuFileWriter, blocks: readonly RamBlock[]): void {
  let total = 0;
  for (const b of blocks) total += b.usedLength;
  putRecordWord(f, total, RamFlag.MEM_SIZE);
  for (const b of blocks) {
    putBlockName(f, b);
    f.putBe64Number(b.usedLength);
  }
}

/** Puts EOS, the end of a section body. */
export function putEndOfSection(f: QemuFileWriter): void {
  putRecordWord(f, 0, RamFlag.EOS);
}
