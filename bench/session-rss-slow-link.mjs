// bench/session-rss-slow-link.mjs: the source's memory while it migrates a large live device
// over a slow link (see bench/README.md, "session: memory and downtime over a slow link").
//
// A 1 GiB (BENCH_BYTES) live device, its state preallocated and resident before anything is
// measured, whose iterate hook honours rateLimitExceeded() and puts copies of its pages, is
// migrated from one process to another through a relay that reads at ~100 MB/s
// (BENCH_LINK_MBPS). Reported: the source's peak RSS (VmHWM, reset just before migrating)
// minus its RSS just before migrating — what the migration itself held, the device's state
// not included. Value: the writer's default queue cap (MigrationSession.migrate); reference:
// the same migration with the cap disabled (a writer with queueCap: Infinity), same run.
// Both with max-bandwidth 0 (unlimited), so nothing but the cap bounds the queue.
import * as path from 'node:path';
import { benchBytes, log, result } from './lib/common.mjs';
import { migrateOnce, scratchDir, startSlowLink } from './lib/session-run.mjs';

const bytes = benchBytes();
const linkBytesPerSec = Number(process.env.BENCH_LINK_MBPS ?? 100) * 1e6;
const pageSize = 1 << 20;
const MiB = 1024 * 1024;
const { dir, cleanup } = scratchDir('rss');

try {
  const link = await startSlowLink(path.join(dir, 'link.sock'), path.join(dir, 'dst.sock'), linkBytesPerSec);
  const arms = [
    { label: 'queue cap (default)', queueCap: 'default' },
    { label: 'queue cap disabled', queueCap: 'infinity' },
  ];
  const growth = {};
  try {
    for (const arm of arms) {
      const { source } = await migrateOnce(dir, { size: bytes, pageSize, queueCap: arm.queueCap, params: { maxBandwidth: 0, downtimeLimitMs: 300 } });
      const grewMiB = ((source.peakKiB - source.baselineKiB) * 1024) / MiB;
      growth[arm.queueCap] = grewMiB;
      const seconds = source.info.totalTimeMs / 1000;
      log(
        `  ${arm.label}: RSS before ${(source.baselineKiB / 1024).toFixed(0)} MiB, peak ${(source.peakKiB / 1024).toFixed(0)} MiB, ` +
          `+${grewMiB.toFixed(1)} MiB; ${(bytes / MiB).toFixed(0)} MiB in ${seconds.toFixed(1)} s ` +
          `(${(source.info.transferredBytes / seconds / 1e6).toFixed(0)} MB/s), downtime ${source.info.downtimeMs} ms ` +
          `(last progress before the stop: ${(source.beforeStop.remainingBytes / 1e6).toFixed(1)} MB remaining, threshold ${(source.beforeStop.thresholdBytes / 1e6).toFixed(1)} MB)`,
      );
    }
  } finally {
    link.stop();
  }
  const size = bytes >= 2 ** 30 ? `${bytes / 2 ** 30}GiB` : `${bytes / MiB}MiB`;
  const out = result(`session.rss-${size}-slow-link`, 'MiB', Number(growth.default.toFixed(1)), {
    name: 'same, queue cap disabled (queueCap: Infinity)',
    value: Number(growth.infinity.toFixed(1)),
  });
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  cleanup();
}
