// The loopback multifd benchmarks' body (not a benchmark itself): `bytes` of `kind` over
// tcp:127.0.0.1 (no namespaces, no cap), 4 multifd channels against 1: one untimed warm-up
// of each arm, then BENCH_MULTIFD_RUNS (default 3) alternating runs, medians; prints the
// result on stdout.
import { benchBytes, log } from './common.mjs';
import { compareChannels, killPeers, startPeers } from './multifd-run.mjs';

export async function runLoopback({ name, kind, what }) {
  const bytes = benchBytes();
  const runs = Math.max(1, Number(process.env.BENCH_MULTIFD_RUNS ?? 3));
  let peers;
  try {
    log(`${name}: ${(bytes / 2 ** 20).toFixed(0)} MiB of ${what} over tcp:127.0.0.1, uncapped, ${runs} runs per arm`);
    peers = await startPeers({ kind, bytes });
    const out = await compareChannels({
      name,
      peers,
      bytes,
      runs,
      channels: 4,
      refChannels: 1,
      warmup: 'both',
      describe: 'the same migration with multifdChannels 1, tcp:127.0.0.1',
    });
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await peers?.stop();
    killPeers();
  }
}
