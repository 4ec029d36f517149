// The capped multifd benchmarks' body (not a benchmark itself): `bytes` of `kind` between two
// network namespaces whose link caps each TCP flow at BENCH_FLOW_MBIT (bench/lib/netns.mjs),
// 4 multifd channels against 1, alternating, after one untimed 4-channel warm-up; prints the
// result on stdout.
import { benchBytes, log } from './common.mjs';
import { compareChannels, killPeers, startPeers } from './multifd-run.mjs';
import { canMakeNamespaces, makeTwoHosts } from './netns.mjs';

export async function runCapped({ name, kind, what }) {
  const bytes = benchBytes();
  const runs = Math.max(1, Number(process.env.BENCH_MULTIFD_RUNS ?? 2));
  const mbit = Number(process.env.BENCH_FLOW_MBIT ?? 400);
  const can = canMakeNamespaces();
  if (!can.ok) throw new Error(`${name} needs network namespaces: ${can.why}`);
  const hosts = makeTwoHosts({ flowMbit: mbit });
  let peers;
  try {
    log(`${name}: ${(bytes / 2 ** 20).toFixed(0)} MiB of ${what}, each TCP flow capped at ${mbit} Mbit/s (htb class + u32 filter per source port, ${hosts.sourceNs} → ${hosts.destinationNs}), ${runs} runs per arm`);
    peers = await startPeers({ hosts, kind, bytes });
    const out = await compareChannels({
      name,
      peers,
      bytes,
      runs,
      channels: 4,
      refChannels: 1,
      warmup: 'first',
      describe: `the same migration with multifdChannels 1 (main stream + one channel, ${mbit} Mbit/s per flow)`,
    });
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await peers?.stop();
    killPeers();
    hosts.remove();
  }
}
