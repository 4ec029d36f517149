/**
 * `--multifd-channels N` and `--uuid UUID` on both sides: QEMU's capability `multifd` with N
 * more connections for RAM pages and device state (docs/design/multifd.md), and the VM's
 * uuid every channel announces.
 */
import { MAX_MULTIFD_CHANNELS } from '@savevm/core';
import { parseUuid } from '@savevm/stream/multifd';
import { parseCount } from './units.js';
import { UsageError } from './usage-error.js';

/** The multifd choices of one side, checked against its URI. */
export interface MultifdOptions {
  /** Channels besides the main connection (undefined: multifd off). */
  readonly multifdChannels: number | undefined;
  /** The VM's uuid (QEMU `-uuid`), as given. */
  readonly uuid: string | undefined;
}

/**
 * Checks `--multifd-channels` and `--uuid`: 1 to 255 channels, on `tcp:` or `unix:` only
 * (a file or a command has no second connection); a uuid in QEMU's form.
 */
export function parseMultifdOptions(uri: string, channels: string | undefined, uuid: string | undefined): MultifdOptions {
  let multifdChannels: number | undefined;
  if (channels !== undefined) {
    multifdChannels = parseCount(channels, '--multifd-channels');
    if (multifdChannels < 1 || multifdChannels > MAX_MULTIFD_CHANNELS) {
      throw new UsageError(`--multifd-channels takes 1 to ${MAX_MULTIFD_CHANNELS} (got ${channels})`);
    }
    if (!/^(tcp|unix):/.test(uri)) {
      throw new UsageError(`--multifd-channels opens more connections: use tcp: or unix:, not ${uri || 'no URI'}`);
    }
  }
  if (uuid !== undefined) {
    try {
      parseUuid(uuid);
    } catch {
      throw new UsageError(`--uuid takes a uuid like 12345678-9abc-def0-1234-56789abcdef0 (got ${uuid})`);
    }
    if (multifdChannels === undefined) throw new UsageError('--uuid is announced on multifd channels: give --multifd-channels too');
  }
  return { multifdChannels, uuid };
}
