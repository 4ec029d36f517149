/** Human-readable numbers for the progress bar and the summary. */

/** `1.5 MiB`, `512 B`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** `830 Mbit/s`, from megabits per second. */
export function formatMbps(mbps: number): string {
  return mbps >= 1000 ? `${(mbps / 1000).toFixed(2)} Gbit/s` : `${mbps.toFixed(mbps < 10 ? 1 : 0)} Mbit/s`;
}

/** `12 ms`, `3.40 s`. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Average throughput over a whole migration, megabits per second. */
export function averageMbps(bytes: number, ms: number): number {
  return ms > 0 ? (bytes * 8) / 1e6 / (ms / 1000) : 0;
}
