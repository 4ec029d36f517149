/**
 * Per-channel throughput of a multifd migration (docs/design/multifd.md), from the bytes
 * each channel has moved in successive infos.
 */
import type { MigrationInfo } from '@savevm/core';
import { formatMbps } from './format.js';

/** The shortest time between two samples for a new rate, ms. */
const MIN_SAMPLE_MS = 200;

/** One channel's progress for the JSON line. */
export interface ChannelRate {
  /** The channel's number. */
  readonly channel: number;
  /** Bytes it moved so far. */
  readonly bytes: number;
  /** Its throughput over the last sample window, Mbit/s. */
  readonly mbps: number;
}

/** Turns each info's per-channel bytes into per-channel throughput. */
export class ChannelRates {
  private lastMs = 0;
  private lastBytes: readonly number[] = [];
  private mbps: number[] = [];

  /** The channels' bytes and throughput as of `info` (empty without multifd). */
  sample(info: MigrationInfo): ChannelRate[] {
    const channels = info.multifdChannels;
    if (channels === undefined) return [];
    const elapsed = info.totalTimeMs - this.lastMs;
    if (elapsed >= MIN_SAMPLE_MS || this.mbps.length !== channels.length) {
      this.mbps = channels.map((c, i) => (elapsed > 0 ? ((c.bytes - (this.lastBytes[i] ?? 0)) * 8) / 1000 / elapsed : 0));
      this.lastMs = info.totalTimeMs;
      this.lastBytes = channels.map((c) => c.bytes);
    }
    return channels.map((c, i) => ({ channel: c.channel, bytes: c.bytes, mbps: Number((this.mbps[i] ?? 0).toFixed(1)) }));
  }
}

/** The progress bar's words for the channels: ` | ch 0 412 Mb/s, 1 398 Mb/s` (empty without multifd). */
export function channelRatesNote(rates: readonly ChannelRate[]): string {
  if (rates.length === 0) return '';
  return ` | ch ${rates.map((r) => `${r.channel} ${formatMbps(r.mbps)}`).join(', ')}`;
}
