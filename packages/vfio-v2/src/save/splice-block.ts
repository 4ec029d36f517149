/**
 * One DEV_DATA_STATE block moved by the kernel: when the data file offers a splice source
 * and the stream's channel is a plain fd, ask how many bytes are ready (at most a buffer's
 * worth, so the framing is QEMU's), write the header for exactly that many, and let
 * `QemuFileWriter.spliceFrom` move them without a copy through user space. Same bytes on
 * the wire as {@link saveBlock}.
 */
import type { MigrationPhase } from '@savevm/core';
import type { QemuFileWriter } from '@savevm/stream';
import { VfioTag, type DataSpliceSource } from '@savevm/vfio';
import { VfioV2MigrationError } from '../errors.js';
import { traceVfio } from '../tracing.js';
import type { BlockResult } from './save-block.js';

/**
 * What a splice attempt gave: a block written, 'not-ready' (nothing ready now, or the end:
 * do the plain read for this block), or 'unsupported' (the fd refused: use the plain read
 * from now on).
 */
export type SpliceBlockResult = BlockResult | 'not-ready' | 'unsupported';

/**
 * Writes one block of the bytes ready on `source` (at most `buffer.byteLength`), spliced.
 * `buffer` is only used when the kernel refuses splice after the header went out.
 * @throws VfioV2MigrationError when FIONREAD, splice or the fallback read fails
 */
export async function spliceBlock(
  f: QemuFileWriter,
  source: DataSpliceSource,
  buffer: Uint8Array,
  device: string,
  phase: MigrationPhase,
): Promise<SpliceBlockResult> {
  let ready: number | 'unsupported';
  try {
    ready = source.readyBytes();
  } catch (cause) {
    throw new VfioV2MigrationError({ device, phase, operation: 'FIONREAD data_fd', cause });
  }
  if (ready === 'unsupported') return 'unsupported';
  if (ready === 0) return 'not-ready';
  const n = Math.min(ready, buffer.byteLength);
  f.putBe64(VfioTag.DEV_DATA_STATE);
  f.putBe64Number(n);
  try {
    await f.spliceFrom(source, n, buffer);
  } catch (cause) {
    throw new VfioV2MigrationError({ device, phase, operation: 'splice data_fd', cause });
  }
  traceVfio('vfio_save_block', { device, dataSize: n, spliced: true });
  return { bytes: n, ended: false };
}
