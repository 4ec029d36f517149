import { RecordType, StreamFormatError, StreamTruncatedError, type QemuFileReader } from '@savevm/stream';
import { VfioTag } from '@savevm/vfio';
import { decodeFromReader, type BodyDecoder, type BodySource } from './body-source.js';

/** END_OF_STATE on the wire followed by the section-footer byte: where a config state ends. */
const END_THEN_FOOTER = (() => {
  const b = Buffer.alloc(9);
  b.writeBigUInt64BE(VfioTag.END_OF_STATE);
  b[8] = RecordType.SECTION_FOOTER;
  return b;
})();

/** Largest config state the inspector looks through for its end. */
const MAX_CONFIG_STATE = 1024 * 1024;

/**
 * Skips a config state (QEMU's PCI config vmstate, which does not say its length) up to the
 * END_OF_STATE that a section footer follows; returns its size.
 */
function* configStateSkipper(source: BodySource): BodyDecoder<number> {
  let taken = 0;
  for (;;) {
    source.window(END_THEN_FOOTER.length);
    yield;
    const window = source.buf.subarray(source.at, source.end);
    const at = window.indexOf(END_THEN_FOOTER);
    const take = at >= 0 ? at : window.length - (END_THEN_FOOTER.length - 1);
    if (at < 0 && take <= 0) throw new StreamTruncatedError(source.offset + window.length, 'a vfio config state and its END_OF_STATE');
    if (taken + take > MAX_CONFIG_STATE) throw new StreamFormatError('BAD_BODY', source.offset, `vfio: no END_OF_STATE within ${MAX_CONFIG_STATE} bytes of config state`);
    source.skip(take, 'a vfio config state');
    yield;
    taken += take;
    if (at >= 0) return taken;
  }
}

/** What one VFIO section body held. */
export interface VfioBodySummary {
  /** Tag names in stream order (`DATA` entries carry their size). */
  readonly tags: string[];
  /** Device-data bytes in the body. */
  dataBytes: number;
  /** Config-state bytes in the body (a FULL section), when there were any. */
  configBytes?: number;
}

/** The 64-bit size the source just took, which must be a safe integer (as `QemuFileReader.takeBe64Number`). */
function be64Number(source: BodySource, what: string): number {
  const hi = source.buf.readUInt32BE(source.at);
  const lo = source.buf.readUInt32BE(source.at + 4);
  if (hi >= 0x200000) {
    throw new StreamFormatError('TOO_LARGE', source.offset - 8, `${what} of 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} exceeds 2^53`);
  }
  return hi * 2 ** 32 + lo;
}

/** Decodes a VFIO section body (the generator under {@link decodeVfioBody}). */
export function* vfioBodyDecoder(source: BodySource): BodyDecoder<VfioBodySummary> {
  const summary: VfioBodySummary = { tags: [], dataBytes: 0 };
  for (;;) {
    const at = source.offset;
    source.take(8, 'a vfio tag');
    yield;
    const tag = source.buf.readBigUInt64BE(source.at);
    switch (tag) {
      case VfioTag.END_OF_STATE:
        summary.tags.push('END_OF_STATE');
        return summary;
      case VfioTag.DEV_SETUP_STATE:
        summary.tags.push('SETUP_STATE');
        break;
      case VfioTag.DEV_DATA_STATE: {
        source.take(8, 'a vfio data size');
        yield;
        const n = be64Number(source, 'a vfio data size');
        source.skip(n, 'vfio device data');
        yield;
        summary.tags.push(`DATA_STATE(${n})`);
        summary.dataBytes += n;
        break;
      }
      case VfioTag.DEV_CONFIG_STATE: {
        const n = yield* configStateSkipper(source);
        summary.tags.push(`CONFIG_STATE(${n})`);
        summary.configBytes = (summary.configBytes ?? 0) + n;
        break;
      }
      case VfioTag.DEV_INIT_DATA_SENT:
        summary.tags.push('INIT_DATA_SENT');
        return summary;
      case VfioTag.DEV_CONFIG_LOAD_READY:
        summary.tags.push('CONFIG_LOAD_READY');
        return summary;
      default:
        throw new StreamFormatError('BAD_BODY', at, `vfio: unknown tag 0x${tag.toString(16)}`);
    }
  }
}

/**
 * Decodes a VFIO section body (v2 or v1 layout) up to its END_OF_STATE (or an
 * INIT_DATA_SENT / CONFIG_LOAD_READY, which end a section without one). A CONFIG_STATE
 * has no self-describing length: it is taken to end at the first END_OF_STATE that a section
 * footer follows (QEMU sends it only in a SECTION_FULL, closed by a footer).
 */
export function decodeVfioBody(r: QemuFileReader): Promise<VfioBodySummary> {
  return decodeFromReader(r, vfioBodyDecoder);
}
