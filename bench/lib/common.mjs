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
