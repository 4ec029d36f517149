/**
 * How a source uses its multifd channels, from the QEMU whose stream it writes
 * (docs/design/multifd.md §1, §5, §6).
 */
import type { StreamCompat } from '../stream-compat.js';
import type { MultifdSettings } from './multifd-contract.js';

/** The most channels a migration may have (the initial packet's id is one byte). */
export const MAX_MULTIFD_CHANNELS = 255;

/**
 * QEMU 7.2's rules (zero pages on the main stream, a barrier at every `ram` section end, no
 * device state on the channels) or QEMU 10.0's (zero pages in packets, one barrier per pass
 * with MULTIFD_FLUSH, device state on the channels at switchover).
 * @throws RangeError when `channels` is not 1 … 255
 */
export function multifdSettingsFor(compat: StreamCompat, channels: number): MultifdSettings {
  if (!Number.isInteger(channels) || channels < 1 || channels > MAX_MULTIFD_CHANNELS) {
    throw new RangeError(`multifd channels must be 1 … ${MAX_MULTIFD_CHANNELS}, not ${channels}`);
  }
  const qemu10 = compat === 'qemu-10.0';
  return { channels, zeroPagesInPackets: qemu10, syncMode: qemu10 ? 'flush-record' : 'per-section', deviceState: qemu10 };
}
