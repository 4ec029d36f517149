// bench/session-downtime.mjs: downtime of live migrations over a slow link at a 300 ms
// downtime limit (see bench/README.md, "session: memory and downtime over a slow link").
//
// 20 (BENCH_DOWNTIME_RUNS) migrations after an untimed one, each between two fresh processes
// through a relay that reads at ~100 MB/s (BENCH_LINK_MBPS), of a converging workload: a 64 MiB live device
// (BENCH_DOWNTIME_BYTES) whose guest dirties 10 MB/s (BENCH_DIRTY_MBPS) while the VM runs,
// migrated with MigrationSession.migrate(uri) and QEMU's defaults (downtime-limit 300 ms,
// max-bandwidth 128 MiB/s, the return path). Each downtime is the source's `downtimeMs`: from
// the VM's stop to the destination's verdict that it loaded everything. Reported: p95 and
// max (ms, lower is better; no reference, the limit is the yardstick).
import * as path from 'node:path';
import { log, parseBytes, result } from './lib/common.mjs';
import { migrateOnce, scratchDir, startSlowLink } from './lib/session-run.mjs';

const runs = Number(process.env.BENCH_DOWNTIME_RUNS ?? 20);
const size = parseBytes(process.env.BENCH_DOWNTIME_BYTES ?? '64M');
const linkBytesPerSec = Number(process.env.BENCH_LINK_MBPS ?? 100) * 1e6;
const dirtyBytesPerSec = Number(process.env.BENCH_DIRTY_MBPS ?? 10) * 1e6;
const limitMs = 300;
const { dir, cleanup } = scratchDir('downtime');

/** The nearest-rank percentile. */
function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

try {
  const link = await startSlowLink(path.join(dir, 'link.sock'), path.join(dir, 'dst.sock'), linkBytesPerSec);
  const downtimes = [];
  try {
    const migrate = () => migrateOnce(dir, { size, pageSize: 64 * 1024, dirtyBytesPerSec, params: { downtimeLimitMs: limitMs } });
    const warmUp = (await migrate()).source.info;
    log(`  warm-up (not counted): downtime ${warmUp.downtimeMs} ms`);
    for (let i = 0; i < runs; i++) {
      const { source } = await migrate();
      const info = source.info;
      downtimes.push(info.downtimeMs);
      log(
        `  run ${i + 1}/${runs}: downtime ${info.downtimeMs} ms, ${info.iterations} rounds, ` +
          `${(info.transferredBytes / 2 ** 20).toFixed(1)} MiB in ${(info.totalTimeMs / 1000).toFixed(2)} s, ` +
          `last progress before the stop: ${(source.beforeStop.remainingBytes / 1e6).toFixed(1)} MB remaining, threshold ${(source.beforeStop.thresholdBytes / 1e6).toFixed(1)} MB`,
      );
    }
  } finally {
    link.stop();
  }
  const p95 = percentile(downtimes, 95);
  const max = Math.max(...downtimes);
  log(`  downtime over ${runs} migrations: p50 ${percentile(downtimes, 50)} ms, p95 ${p95} ms, max ${max} ms (limit ${limitMs} ms)`);
  process.stdout.write(
    `${JSON.stringify([result(`session.downtime-${limitMs}ms`, 'ms', p95, null), result(`session.downtime-${limitMs}ms.max`, 'ms', max, null)])}\n`,
  );
} finally {
  cleanup();
}
