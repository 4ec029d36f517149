/**
 * Live progress: on a terminal, a progress bar (cli-progress) with transferred / remaining,
 * throughput, iteration and expected downtime; otherwise one JSON line per update
 * (throttled), and one per status change.
 */
import type { MigrationInfo } from '@savevm/core';
import { Presets, SingleBar } from 'cli-progress';
import type { Observable, Subscription } from 'rxjs';
import { formatBytes, formatMbps, formatMs } from './format.js';
import type { CliEvents } from './cli-events.js';
import { type ChannelRate, ChannelRates, channelRatesNote } from './channel-rates.js';

/** Most JSON progress lines per second (status changes are always written). */
const JSON_LINES_PER_SECOND = 10;

/** Which side is migrating. */
export type Role = 'source' | 'destination';

/** Names an entry's idstr as the summary names the device (`emulated:nic0`, `ram`); undefined leaves it out. */
export type EntryLabel = (idstr: string) => string | undefined;

/**
 * The JSON line of one progress update; `devices` has the bytes moved so far per device and
 * the RAM, `channels` each multifd channel's bytes and throughput (when there are channels).
 */
export function progressRecord(
  role: Role,
  info: MigrationInfo,
  labelOf: EntryLabel = () => undefined,
  channels: readonly ChannelRate[] = [],
): Record<string, unknown> {
  const devices: Array<{ device: string; bytes: number }> = [];
  for (const entry of info.entries) {
    const device = labelOf(entry.idstr);
    if (device !== undefined) devices.push({ device, bytes: entry.bytes });
  }
  return {
    event: 'progress',
    role,
    status: info.status,
    totalTimeMs: Math.round(info.totalTimeMs),
    transferredBytes: info.transferredBytes,
    remainingBytes: info.remainingBytes,
    throughputMbps: Number(info.throughputMbps.toFixed(1)),
    iterations: info.iterations,
    expectedDowntimeMs: info.expectedDowntimeMs === undefined ? null : Math.round(info.expectedDowntimeMs),
    devices,
    ...(channels.length > 0 && { channels }),
    ...(info.convergence?.stalled === true && { convergence: convergenceRecord(info) }),
  };
}

/** A stalled migration's convergence fields (docs/design/convergence.md), for the JSON progress line. */
function convergenceRecord(info: MigrationInfo): Record<string, unknown> {
  const c = info.convergence;
  if (c === undefined) return {};
  return {
    notConverging: c.stalled,
    pendingBytes: c.pendingBytes,
    thresholdBytes: c.thresholdBytes,
    roundsWithoutProgress: c.roundsWithoutProgress,
    downtimeLimitMs: c.downtimeLimitMs,
    policy: c.policy,
  };
}

/** The progress bar's words for a stalled migration: pending over threshold, rounds without progress. */
export function convergenceNote(info: MigrationInfo): string {
  const c = info.convergence;
  if (c === undefined || !c.stalled) return '';
  return ` | NOT CONVERGING: ${formatBytes(c.pendingBytes)} pending > ${formatBytes(c.thresholdBytes)} threshold, ${c.roundsWithoutProgress} rounds without progress (${c.policy})`;
}

/** Shows a migration's progress until `stop()`. */
export interface ProgressView {
  /** Stops showing (the bar is left at its last value). */
  stop(): void;
}

/** Writes JSON progress lines: every status change at once, other updates at most every 100 ms. */
function jsonProgress(role: Role, info$: Observable<MigrationInfo>, events: CliEvents, labelOf: EntryLabel): ProgressView {
  let lastStatus: string | undefined;
  let latest: MigrationInfo | undefined;
  let written: MigrationInfo | undefined;
  const rates = new ChannelRates();
  const write = (info: MigrationInfo): void => {
    lastStatus = info.status;
    written = info;
    events.json(progressRecord(role, info, labelOf, rates.sample(info)));
  };
  const ticker = setInterval(() => {
    if (latest && latest !== written) write(latest);
  }, 1000 / JSON_LINES_PER_SECOND);
  ticker.unref();
  const subscription: Subscription = info$.subscribe((info) => {
    if (info.status === 'none') return;
    latest = info;
    if (info.status !== lastStatus) write(info);
  });
  return {
    stop: () => {
      subscription.unsubscribe();
      clearInterval(ticker);
    },
  };
}

/** Draws a progress bar on the terminal. */
function barProgress(role: Role, info$: Observable<MigrationInfo>, stream: NodeJS.WritableStream): ProgressView {
  const format =
    role === 'source'
      ? ' {status} |{bar}| {percentage}% | {sent} sent, {left} left | {rate} | iter {iter} | exp. downtime {edt}{channels}{converging}'
      : ' {status} |{bar}| {sent} received | {rate} | {elapsed}{channels}';
  const bar = new SingleBar(
    { format, stream, hideCursor: true, barsize: 24, fps: 10, etaBuffer: 20, forceRedraw: false, clearOnComplete: false, autopadding: true },
    Presets.shades_classic,
  );
  let started = false;
  const rates = new ChannelRates();
  const payload = (info: MigrationInfo): Record<string, string> => ({
    status: info.status.toUpperCase().padEnd(9),
    sent: formatBytes(info.transferredBytes),
    left: formatBytes(info.remainingBytes),
    rate: formatMbps(info.throughputMbps),
    iter: String(info.iterations),
    edt: formatMs(info.expectedDowntimeMs),
    elapsed: formatMs(info.totalTimeMs),
    channels: channelRatesNote(rates.sample(info)),
    converging: convergenceNote(info),
  });
  const subscription = info$.subscribe((info) => {
    if (info.status === 'none') return;
    const total = role === 'source' ? Math.max(1, info.transferredBytes + info.remainingBytes) : Math.max(1, info.transferredBytes);
    if (!started) {
      bar.start(total, info.transferredBytes, payload(info));
      started = true;
      return;
    }
    bar.setTotal(total);
    bar.update(info.transferredBytes, payload(info));
  });
  return {
    stop: () => {
      subscription.unsubscribe();
      if (started) bar.stop();
    },
  };
}

/**
 * Shows progress the way the output calls for: a bar on a terminal, JSON lines otherwise
 * (with each device's bytes, named by `labelOf`).
 */
export function showProgress(role: Role, info$: Observable<MigrationInfo>, events: CliEvents, labelOf: EntryLabel = () => undefined): ProgressView {
  const stall = warnOnStall(info$, events);
  const view = progressView(role, info$, events, labelOf);
  return {
    stop: () => {
      stall.unsubscribe();
      view.stop();
    },
  };
}

function progressView(role: Role, info$: Observable<MigrationInfo>, events: CliEvents, labelOf: EntryLabel): ProgressView {
  const terminal = events.terminal;
  if (terminal) return barProgress(role, info$, terminal);
  if (events.isJson) return jsonProgress(role, info$, events, labelOf);
  return { stop: () => undefined };
}

/** One warning line when a migration first stops converging: pending, threshold, rounds, policy. */
function warnOnStall(info$: Observable<MigrationInfo>, events: CliEvents): Subscription {
  let warned = false;
  return info$.subscribe((info) => {
    const c = info.convergence;
    if (warned || c === undefined || !c.stalled) return;
    warned = true;
    events.warn(
      `not converging: ${formatBytes(c.pendingBytes)} pending, threshold ${formatBytes(c.thresholdBytes)} ` +
        `(downtime limit ${formatMs(c.downtimeLimitMs)}), ${c.roundsWithoutProgress} rounds without progress; --converge ${c.policy}`,
    );
  });
}
