// bench/run.mjs: runs every benchmark script bench/*.mjs (except this one; helpers live in
// bench/lib/), one process per script, one after the other, prints a table and writes
// bench/results.json. `npm run bench` builds first (tsc -b) and then runs this.
//
// Convention for a benchmark script: it prints ONE JSON value on stdout — a result object
// or an array of them — and nothing else (progress goes to stderr, which is passed through):
//   {"name": string, "unit": string, "value": number,
//    "reference": {"name": string, "value": number} | null, "ratio": number | null}
// ratio is value ÷ reference.value (recomputed here), the reference measured in the same run.
//
// Environment:
//   BENCH_FILTER=substr   run only scripts whose file name contains substr (comma-separated: any of them)
//   BENCH_BYTES=N[K|M|G]  data size for the bulk benchmarks (default 1 GiB), e.g. 64M for a smoke run
//   BENCH_TIMEOUT=secs    per-script timeout (default 300); then the script's process group gets
//                         SIGTERM and, 5 s later, SIGKILL
//   BENCH_RUNS, BENCH_CPU are read by the scripts themselves (see bench/README.md), and so are
//   BENCH_LINK_MBPS, BENCH_DOWNTIME_RUNS, BENCH_DOWNTIME_BYTES, BENCH_DIRTY_MBPS (the session
//   benchmarks, session-*.mjs: memory and downtime over a slow link), BENCH_FLOW_MBIT and
//   BENCH_MULTIFD_RUNS (the multifd benchmarks, multifd-*.mjs: 4 channels vs 1)
// A script that exits non-zero, times out or prints no valid JSON is reported as FAILED; the
// others still run, and run.mjs then exits 1.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const rootDir = path.dirname(benchDir);
const resultsPath = path.join(benchDir, 'results.json');
const timeoutSec = Number(process.env.BENCH_TIMEOUT ?? 300);
const filters = (process.env.BENCH_FILTER ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

const scripts = fs
  .readdirSync(benchDir)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs')
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();

/** Runs one script; resolves to { ok, stdout, reason, seconds }. */
function runScript(file) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [path.join(benchDir, file)], {
      cwd: rootDir,
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true, // own process group, so a timeout also kills its children
    });
    const chunks = [];
    child.stdout.on('data', (c) => chunks.push(c));
    let timedOut = false;
    const killGroup = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        child.kill(signal);
      }
    };
    let graceTimer;
    // SIGTERM first so the script can remove its temp files, SIGKILL 5 s later.
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      graceTimer = setTimeout(() => killGroup('SIGKILL'), 5000);
    }, timeoutSec * 1000);
    const finish = (reason) => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ ok: reason === undefined, stdout: Buffer.concat(chunks).toString('utf8'), reason, seconds });
    };
    child.once('error', (err) => finish(`could not start: ${err.message}`));
    child.once('close', (code, signal) => {
      if (timedOut) finish(`timed out after ${timeoutSec} s`);
      else if (code !== 0) finish(`exited with ${signal ?? `code ${code}`}`);
      else finish(undefined);
    });
  });
}

/** Parses and validates a script's stdout; returns the normalised results or throws. */
function parseResults(stdout) {
  const text = stdout.trim();
  if (!text) throw new Error('printed nothing on stdout');
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    // Tolerate stray lines before the JSON: take the last line.
    const last = text.split('\n').pop() ?? '';
    try {
      value = JSON.parse(last);
    } catch {
      throw new Error(`stdout is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
    }
  }
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new Error('printed an empty array');
  return list.map((r, i) => {
    const where = `result ${i}`;
    if (!r || typeof r !== 'object') throw new Error(`${where} is not an object`);
    if (typeof r.name !== 'string' || !r.name) throw new Error(`${where}: name must be a non-empty string`);
    if (typeof r.unit !== 'string') throw new Error(`${r.name}: unit must be a string`);
    if (typeof r.value !== 'number' || !Number.isFinite(r.value)) throw new Error(`${r.name}: value must be a finite number`);
    let reference = null;
    if (r.reference != null) {
      const ref = r.reference;
      if (typeof ref.name !== 'string' || typeof ref.value !== 'number' || !Number.isFinite(ref.value)) {
        throw new Error(`${r.name}: reference must be {name: string, value: number} or null`);
      }
      reference = { name: ref.name, value: ref.value };
    }
    const ratio = reference && reference.value !== 0 ? r.value / reference.value : null;
    return { name: r.name, unit: r.unit, value: r.value, reference, ratio };
  });
}

function fmtNum(x) {
  if (x === null || x === undefined) return '-';
  if (Math.abs(x) >= 1000) return x.toFixed(0);
  if (Math.abs(x) >= 100) return x.toFixed(1);
  return x.toPrecision(3);
}

function printTable(rows) {
  const header = ['name', 'value', 'unit', 'reference', 'ref value', 'ratio'];
  const body = rows.map((r) =>
    r.failed
      ? [r.name, 'FAILED', '', r.failed, '', '']
      : [
          r.name,
          fmtNum(r.value),
          r.unit,
          r.reference ? r.reference.name : '-',
          r.reference ? fmtNum(r.reference.value) : '-',
          r.ratio === null ? '-' : r.ratio.toFixed(2),
        ],
  );
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => String(row[c]).length)));
  const numeric = new Set([1, 4, 5]);
  const line = (row) =>
    row.map((cell, c) => (numeric.has(c) ? String(cell).padStart(widths[c]) : String(cell).padEnd(widths[c]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of body) console.log(line(row).trimEnd());
}

async function main() {
  if (scripts.length === 0) {
    console.error(`bench: no benchmark scripts match BENCH_FILTER=${process.env.BENCH_FILTER ?? ''}`);
    process.exitCode = 1;
    return;
  }
  const results = [];
  const rows = [];
  let failures = 0;
  for (const file of scripts) {
    console.error(`bench: running ${file}`);
    const run = await runScript(file);
    let parsed;
    let reason = run.reason;
    if (run.ok) {
      try {
        parsed = parseResults(run.stdout);
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err);
      }
    }
    if (parsed) {
      results.push(...parsed);
      rows.push(...parsed);
      console.error(`bench: ${file} done in ${run.seconds.toFixed(1)} s`);
    } else {
      failures++;
      rows.push({ name: file, failed: reason });
      console.error(`bench: ${file} FAILED after ${run.seconds.toFixed(1)} s: ${reason}`);
    }
  }
  fs.writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log('');
  printTable(rows);
  console.log(`\n${results.length} result(s) written to ${path.relative(process.cwd(), resultsPath)}`);
  if (failures > 0) {
    console.log(`${failures} benchmark script(s) failed`);
    process.exitCode = 1;
  }
}

await main();
