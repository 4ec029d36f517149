/**
 * One DEV_DATA_STATE block: read up to a buffer's worth from the data_fd and frame it as
 * QEMU does (`vfio_save_block`, docs/design/stream-format.md §5): be64 DEV_DATA_STATE, be64 size,
 * the bytes.
 */
import type { MigrationPhase } from '@savevm/core';
import type { QemuFileWriter } from '@savevm/stream';
import { VfioTag, type VfioDataFile } from '@savevm/vfio';
import { VfioV2MigrationError } from '../errors.js';
import { traceVfio } from '../tracing.js';

/**
 * What a read gave: bytes framed into the stream, or nothing (0 means the end in STOP_COPY,
 * or "nothing for now" in pre-copy — the caller knows which phase it is in).
 */
export interface BlockResult {
  /** Device bytes written in this block (0: none written). */
  readonly bytes: number;
  /** True when the data file said the stream has ended for good (STOP_COPY end). */
  readonly ended: boolean;
}

const NOTHING: BlockResult = { bytes: 0, ended: false };
const ENDED: BlockResult = { bytes: 0, ended: true };

/**
 * Reads one block from `dataFile` into `buffer` and writes it framed to `f`, lending
 * `buffer` to the writer (no copy); it returns once the writer released it, so the caller
 * may reuse it.
 * @throws VfioV2MigrationError when the read fails or the session has ended (ENODEV)
 */
export async function saveBlock(
  f: QemuFileWriter,
  dataFile: VfioDataFile,
  buffer: Uint8Array,
  device: string,
  phase: MigrationPhase,
): Promise<BlockResult> {
  let result;
  try {
    result = await dataFile.read(buffer);
  } catch (cause) {
    throw new VfioV2MigrationError({ device, phase, operation: 'read data_fd', cause });
  }
  switch (result.kind) {
    case 'end':
      return ENDED;
    case 'no-data-yet':
      return NOTHING;
    case 'session-ended':
      throw new VfioV2MigrationError({
        device,
        phase,
        operation: 'read data_fd',
        errno: 'ENODEV',
        detail: `vfio device ${device}: read data_fd failed: the data session ended (ENODEV: device reset or state left)`,
      });
    case 'data':
      break;
  }
  const n = result.bytes;
  f.putBe64(VfioTag.DEV_DATA_STATE);
  f.putBe64Number(n);
  f.putBuffer(n === buffer.byteLength ? buffer : buffer.subarray(0, n), 'lend');
  await f.released();
  traceVfio('vfio_save_block', { device, dataSize: n, spliced: false });
  return { bytes: n, ended: false };
}
