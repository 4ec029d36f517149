/**
 * Loading one chunk of device data from the stream into the migration region
 * (docs/design/vfio-uapi.md §7.5, §7.6): for each piece that fits the data section, read
 * `data_offset`, write the bytes there (into the mapping, else pwrite), then write
 * `data_size`; a chunk larger than the data section is split.
 */
import type { QemuFileReader } from '@savevm/stream';
import type { V1Phase } from '../errors.js';
import type { V1MigrationRegion } from '../migration-region.js';

/**
 * Writes the next `size` stream bytes into the device (QEMU `vfio_load_buffer`), split into
 * pieces that fit the data section. Nothing is allocated from `size`: bytes go from the
 * reader's buffer straight to pwrite.
 */
export async function receiveChunk(region: V1MigrationRegion, f: QemuFileReader, size: number, phase: V1Phase): Promise<void> {
  let remaining = size;
  while (remaining > 0) {
    const dataOffset = region.readDataOffset(phase);
    const piece = Math.min(remaining, region.dataSectionSize(dataOffset));
    let written = 0;
    await f.copyTo(
      piece,
      {
        write: (bytes) => {
          region.writeData(dataOffset + written, bytes, phase);
          written += bytes.byteLength;
        },
      },
      { what: `vfio-v1 device data (${piece} of ${size} bytes)` },
    );
    region.writeDataSize(piece, phase);
    remaining -= piece;
  }
}
