/** The end of a migration: total time, downtime, bytes, throughput, and each device. */
import type { MigrationInfo } from '@savevm/core';
import { escapeWireString } from '@savevm/stream';
import type { DeviceStateReport } from '../devices/opened-device.js';
import type { DeviceVerdict } from '../check/verify-loaded-state.js';
import { averageMbps, formatBytes, formatMbps, formatMs } from './format.js';
import type { Role } from './progress-view.js';

/** One device (or the RAM, `device: "ram"`) in the summary. */
export interface DeviceSummary extends DeviceStateReport {
  /** Bytes of its sections in the stream (moved so far). */
  readonly bytes: number;
  /** The handler provider that took it. */
  readonly provider: string;
  /** The destination's byte check verdict. */
  readonly verified?: boolean;
  /** Why the check failed. */
  readonly problem?: string;
}

/** The summary of one side's migration (also the final JSON line, `event: "summary"`). */
export interface MigrationSummary {
  readonly event: 'summary';
  readonly role: Role;
  /** Final status (completed, failed, cancelled). */
  readonly status: string;
  /** The transport used. */
  readonly transport: string;
  readonly totalTimeMs: number;
  readonly setupTimeMs: number | null;
  readonly downtimeMs: number | null;
  readonly transferredBytes: number;
  /** Average over the whole migration, Mbit/s. */
  readonly throughputMbps: number;
  readonly iterations: number;
  /** Source: which QEMU's stream it wrote (`qemu-7.2`, `qemu-10.0`); null on the destination. */
  readonly streamCompat: string | null;
  readonly devices: readonly DeviceSummary[];
  /** Bytes each multifd channel moved (docs/design/multifd.md); absent without multifd. */
  readonly channels?: readonly { readonly channel: number; readonly bytes: number }[];
  readonly error: string | null;
  readonly warnings: readonly string[];
}

/** What the summary is built from. */
export interface SummaryInput {
  readonly role: Role;
  readonly transport: string;
  readonly info: MigrationInfo;
  readonly devices: readonly (DeviceStateReport & { readonly provider: string })[];
  readonly verdicts?: readonly DeviceVerdict[] | undefined;
  readonly error?: string | undefined;
}

/** Builds the summary. */
export function buildSummary(input: SummaryInput): MigrationSummary {
  const { info } = input;
  const bytesOf = (idstr: string): number => info.entries.filter((e) => e.idstr === idstr).reduce((n, e) => n + e.bytes, 0);
  return {
    event: 'summary',
    role: input.role,
    status: info.status,
    transport: input.transport,
    totalTimeMs: Math.round(info.totalTimeMs),
    setupTimeMs: info.setupTimeMs === undefined ? null : Math.round(info.setupTimeMs),
    downtimeMs: info.downtimeMs === undefined ? null : Math.round(info.downtimeMs * 10) / 10,
    transferredBytes: info.transferredBytes,
    throughputMbps: Number(averageMbps(info.transferredBytes, info.totalTimeMs).toFixed(1)),
    iterations: info.iterations,
    streamCompat: info.streamCompat ?? null,
    devices: input.devices.map((d) => {
      const label = d.device.split(',')[0];
      const verdict = input.verdicts?.find((v) => v.device === label);
      return {
        ...d,
        bytes: bytesOf(d.idstr),
        ...(verdict && { verified: verdict.ok }),
        ...(verdict?.problem !== undefined && { problem: verdict.problem }),
      };
    }),
    ...(info.multifdChannels !== undefined && { channels: info.multifdChannels.map((c) => ({ channel: c.channel, bytes: c.bytes })) }),
    error: input.error ?? info.errorDescription ?? null,
    warnings: info.warnings,
  };
}

/** The summary as text for a person. */
export function formatSummary(s: MigrationSummary): string {
  const lines: string[] = [];
  const title = s.role === 'source' ? 'migration' : 'incoming migration';
  // The transport names the peer (its certificate's CN), warnings and problems may quote the stream: escaped.
  lines.push(`${title} ${s.status.toUpperCase()} over ${escapeWireString(s.transport)}`);
  lines.push(`  total time   ${formatMs(s.totalTimeMs)}${s.setupTimeMs !== null ? ` (setup ${formatMs(s.setupTimeMs)})` : ''}`);
  if (s.role === 'source') lines.push(`  downtime     ${s.downtimeMs === null ? '-' : formatMs(s.downtimeMs)}`);
  lines.push(`  transferred  ${formatBytes(s.transferredBytes)} (${s.transferredBytes} bytes)`);
  lines.push(`  throughput   ${formatMbps(s.throughputMbps)} average`);
  if (s.role === 'source') lines.push(`  iterations   ${s.iterations}`);
  if (s.streamCompat !== null) lines.push(`  stream       ${s.streamCompat} (--compat ${s.streamCompat.slice('qemu-'.length)})`);
  lines.push('  devices:');
  for (const d of s.devices) {
    const moved = d.size === undefined ? formatBytes(d.bytes) : `${formatBytes(d.size)}, ${formatBytes(d.bytes)} moved`;
    const parts = [moved, `via ${d.provider}`, `now ${d.deviceState}`];
    if (d.sha256) parts.push(`sha256 ${d.sha256.slice(0, 16)}…`);
    if (d.pagesDirtied) parts.push(`${d.pagesDirtied} pages dirtied`);
    if (d.dmaPagesWritten) parts.push(`${d.dmaPagesWritten} pages written by DMA`);
    if (d.verified !== undefined) parts.push(d.verified ? 'bytes match the source' : `MISMATCH: ${escapeWireString(d.problem ?? '')}`);
    else if (d.intact !== undefined) parts.push(d.intact ? 'bytes intact' : 'BYTES NOT INTACT');
    lines.push(`    ${escapeWireString(d.device.split(',')[0] ?? '')}  ${parts.join(', ')}`);
  }
  if (s.channels !== undefined) {
    const main = s.transferredBytes - s.channels.reduce((n, c) => n + c.bytes, 0);
    lines.push(`  channels     main ${formatBytes(main)}, ${s.channels.map((c) => `${c.channel}: ${formatBytes(c.bytes)}`).join(', ')}`);
  }
  for (const w of s.warnings) lines.push(`  warning: ${escapeWireString(w)}`);
  return `${lines.join('\n')}\n`;
}
