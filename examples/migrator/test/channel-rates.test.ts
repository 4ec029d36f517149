/** Per-channel throughput from successive infos, and how the bar and the text summary show channels. */
import type { MigrationInfo } from '@savevm/core';
import { describe, expect, it } from 'vitest';
import { ChannelRates, channelRatesNote } from '../src/output/channel-rates.js';
import { buildSummary, formatSummary } from '../src/output/summary.js';
import { progressRecord } from '../src/output/progress-view.js';

function info(totalTimeMs: number, bytes: number[] | undefined, transferredBytes = 0): MigrationInfo {
  return {
    status: 'active',
    totalTimeMs,
    transferredBytes,
    remainingBytes: 0,
    throughputMbps: 0,
    iterations: 1,
    entries: [],
    warnings: [],
    ...(bytes !== undefined && { multifdChannels: bytes.map((b, channel) => ({ channel, bytes: b })) }),
  } as unknown as MigrationInfo;
}

describe('multifd channels in the progress and the summary', () => {
  it('rates per channel over the last window of at least 200 ms; none without multifd', () => {
    const rates = new ChannelRates();
    expect(rates.sample(info(0, undefined))).toEqual([]);
    expect(rates.sample(info(0, [0, 0])).map((r) => r.mbps)).toEqual([0, 0]);
    // 1 s later: 50 MB and 25 MB moved → 400 and 200 Mbit/s.
    expect(rates.sample(info(1000, [50e6, 25e6]))).toEqual([
      { channel: 0, bytes: 50e6, mbps: 400 },
      { channel: 1, bytes: 25e6, mbps: 200 },
    ]);
    // 100 ms later the window is too short: the last rates stay, the bytes move on.
    expect(rates.sample(info(1100, [60e6, 25e6]))).toEqual([
      { channel: 0, bytes: 60e6, mbps: 400 },
      { channel: 1, bytes: 25e6, mbps: 200 },
    ]);
    // 500 ms after the last window: (70-50) MB and 0 over 0.5 s.
    expect(rates.sample(info(1500, [70e6, 25e6])).map((r) => r.mbps)).toEqual([320, 0]);
  });

  it('the bar note and the JSON line', () => {
    expect(channelRatesNote([])).toBe('');
    expect(channelRatesNote([{ channel: 0, bytes: 1, mbps: 412.3 }, { channel: 1, bytes: 1, mbps: 1500 }])).toBe(' | ch 0 412 Mbit/s, 1 1.50 Gbit/s');
    expect(progressRecord('source', info(10, undefined))).not.toHaveProperty('channels');
    expect(progressRecord('source', info(10, [5]), () => undefined, [{ channel: 0, bytes: 5, mbps: 0 }]).channels).toEqual([{ channel: 0, bytes: 5, mbps: 0 }]);
  });

  it('the summary has each channel\'s bytes and the main connection\'s rest', () => {
    const summary = buildSummary({ role: 'source', transport: 'tcp:h:1', info: info(1000, [3 << 20, 2 << 20], 6 << 20), devices: [] });
    expect(summary.channels).toEqual([
      { channel: 0, bytes: 3 << 20 },
      { channel: 1, bytes: 2 << 20 },
    ]);
    expect(formatSummary(summary)).toContain('  channels     main 1.00 MiB, 0: 3.00 MiB, 1: 2.00 MiB\n');
    expect(buildSummary({ role: 'source', transport: 'file:x', info: info(1, undefined), devices: [] })).not.toHaveProperty('channels');
  });
});
