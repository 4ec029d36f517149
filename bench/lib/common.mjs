// Small helpers shared by the benchmark scripts (not a benchmark itself).

/** Parses a byte count: a plain integer or one with a binary suffix K, M, G (e.g. "64M"). */
export function parseBytes(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$/i.exec(String(text));
  if (!m) throw new Error(`not a byte count: ${text}`);
  const scale = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[m[2].toLowerCase()];
  const n = Math.round(Number(m[1]) * scale);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`not a positive byte count: ${text}`);
  return n;
}

/** Data size for bulk benchmarks: BENCH_BYTES (default 1 GiB). */
export function benchBytes(defaultBytes = 2 ** 30) {
  return process.env.BENCH_BYTES ? parseBytes(process.env.BENCH_BYTES) : defaultBytes;
}

/** Seconds from a monotonic clock. */
export function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** Median of a non-empty list of numbers. */
export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** One result object in the bench/results.json format. */
export function result(name, unit, value, reference) {
  return {
    name,
    unit,
    value,
    reference: reference ?? null,
    ratio: reference && reference.value ? value / reference.value : null,
  };
}

/** Logs progress to stderr (stdout carries only the JSON result). */
export function log(...args) {
  process.stderr.write(`${args.join(' ')}\n`);
}

const GB = 1e9;

/**
 * Times `nodeFn` and `refFn` alternately (each resolves to `{wall, cpu}` seconds): one
 * untimed round of each first (JIT, first touch of fresh tmpfs pages, pipe set-up), then
 * `runs` timed rounds; logs every run and returns the medians.
 */
export async function compareAlternately(label, refLabel, nodeFn, refFn, { bytes, runs }) {
  const node = [];
  const ref = [];
  await nodeFn();
  await refFn();
  for (let i = 0; i < runs; i++) {
    node.push(await nodeFn());
    ref.push(await refFn());
  }
  const fmt = (list, key) => list.map((r) => (bytes / r[key] / GB).toFixed(2)).join(' ');
  log(`  ${label}: node GB/s [${fmt(node, 'wall')}]  ${refLabel} GB/s [${fmt(ref, 'wall')}]`);
  log(`  ${' '.repeat(label.length)}  node GB/CPU-s [${fmt(node, 'cpu')}]  ${refLabel} GB/CPU-s [${fmt(ref, 'cpu')}]`);
  const med = (list, key) => median(list.map((r) => r[key]));
  return { wall: { node: med(node, 'wall'), ref: med(ref, 'wall') }, cpu: { node: med(node, 'cpu'), ref: med(ref, 'cpu') } };
}

/** A throughput result (GB/s, wall clock) and its twin per CPU-second, from `compareAlternately`'s medians. */
export function throughputResults(name, refName, medians, bytes) {
  const gbps = (seconds) => Number((bytes / seconds / GB).toFixed(3));
  return [
    result(name, 'GB/s', gbps(medians.wall.node), { name: refName, value: gbps(medians.wall.ref) }),
    result(`${name}.cpu`, 'GB/CPU-s', gbps(medians.cpu.node), { name: refName, value: gbps(medians.cpu.ref) }),
  ];
}
