import { StreamFormatError, type QemuFileReader } from '@savevm/stream';
import { VfioTag } from '@savevm/vfio';

/** What one VFIO section body held. */
export interface VfioBodySummary {
  /** Tag names in stream order (`DATA` entries carry their size). */
  readonly tags: string[];
  /** Device-data bytes in the body. */
  dataBytes: number;
}

/**
 * Decodes a VFIO section body (v2 or v1 layout) up to its END_OF_STATE (or an
 * INIT_DATA_SENT / CONFIG_LOAD_READY, which end a section without one). A CONFIG_STATE
 * body has no self-describing length, so it is refused here.
 */
export async function decodeVfioBody(r: QemuFileReader): Promise<VfioBodySummary> {
  const summary: VfioBodySummary = { tags: [], dataBytes: 0 };
  for (;;) {
    const at = r.offset;
    const tag = await r.getBe64('a vfio tag');
    switch (tag) {
      case VfioTag.END_OF_STATE:
        summary.tags.push('END_OF_STATE');
        return summary;
      case VfioTag.DEV_SETUP_STATE:
        summary.tags.push('SETUP_STATE');
        break;
      case VfioTag.DEV_DATA_STATE: {
        const n = await r.getBe64Number('a vfio data size');
        await r.skip(n, 'vfio device data');
        summary.tags.push(`DATA_STATE(${n})`);
        summary.dataBytes += n;
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
