// multifd-loopback: the same migrations as the capped multifd benchmarks, uncapped, over
// tcp:127.0.0.1 (no namespaces): 4 multifd channels against 1, for 1 GiB (BENCH_BYTES) of
// guest RAM (`multifd.loopback`, a paused VM) and of an emulated device's state
// (`multifd.loopback.device`). One untimed warm-up of each arm, then BENCH_MULTIFD_RUNS
// (default 3) alternating runs, medians; MB/s as in the capped ones. Goal: ratio ≥ 1.0
// (parallel channels never cost throughput).
import { benchBytes, log } from './lib/common.mjs';
import { compareChannels, killPeers, startPeers } from './lib/multifd-run.mjs';

const bytes = benchBytes();
const runs = Math.max(1, Number(process.env.BENCH_MULTIFD_RUNS ?? 3));
const results = [];
try {
  for (const [name, kind, what] of [
    ['multifd.loopback', 'ram', 'guest RAM (paused VM)'],
    ['multifd.loopback.device', 'device', 'device state'],
  ]) {
    log(`${name}: ${(bytes / 2 ** 20).toFixed(0)} MiB of ${what} over tcp:127.0.0.1, uncapped, ${runs} runs per arm`);
    const peers = await startPeers({ kind, bytes });
    try {
      results.push(
        await compareChannels({ name, peers, bytes, runs, channels: 4, refChannels: 1, warmup: true, describe: 'the same migration with multifdChannels 1, tcp:127.0.0.1' }),
      );
    } finally {
      peers.stop();
    }
  }
} finally {
  killPeers();
}
process.stdout.write(`${JSON.stringify(results)}\n`);
