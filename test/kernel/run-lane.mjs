#!/usr/bin/env node
// run-lane.mjs — `npm run test:kernel`: the real-kernel lane. It checks the Debian packages,
// builds the project (tsc -b), builds or reuses the cached kernel (kernel.config), builds the
// initramfs (busybox, node, the built project, the guest tests), boots it under
// qemu-system-x86_64 (TCG) with a timeout, parses the guest's result block, prints one line per
// test and "N passed, N failed", writes a report, and exits non-zero on any failure or on a
// guest that does not finish in time. It never skips: a missing prerequisite is a failure.
//
// Options: --rebuild-kernel  ignore the kernel cache
//          --no-tsc          do not run `tsc -b` first (the dists must be current)
//          --filter <text>   run only guest tests whose "file > name" contains <text>
//          --timeout <s>     guest timeout in seconds (default 300, or $SAVEVM_KERNEL_TIMEOUT)
//          --verbose         stream the guest console live
//          --keep            keep the work directory (initramfs) in /tmp
// Reports go to $SAVEVM_KERNEL_REPORT_DIR or test/kernel/out/ (git-ignored).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureKernel } from './lib/kernel.mjs';
import { buildInitramfs } from './lib/initramfs.mjs';
import { bootGuest } from './lib/qemu.mjs';
import { checkRuntimeTree } from './lib/preflight.mjs';
import { parseResults } from './lib/results.mjs';
import { FETCH_QEMU10, GUEST_QEMU10_MANIFEST, findCachedQemu10, qemu10Files } from './lib/qemu10.mjs';
import { LaneError, checkDebianPackages, log, run, seconds } from './lib/util.mjs';

const LANE_DIR = fileURLToPath(new URL('.', import.meta.url));
const REPO_ROOT = join(LANE_DIR, '..', '..');

const { values: opts } = parseArgs({
  options: {
    'rebuild-kernel': { type: 'boolean', default: false },
    'no-tsc': { type: 'boolean', default: false },
    filter: { type: 'string' },
    timeout: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});

async function main() {
  const laneStart = Date.now();
  const reportDir = process.env.SAVEVM_KERNEL_REPORT_DIR || join(LANE_DIR, 'out');
  mkdirSync(reportDir, { recursive: true });
  const timings = {};

  checkDebianPackages();

  if (!opts['no-tsc']) {
    const t = Date.now();
    await run(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: REPO_ROOT });
    timings.tsc = Date.now() - t;
    log(`project built (tsc -b) in ${seconds(timings.tsc)}`);
  }

  const tPre = Date.now();
  checkRuntimeTree(REPO_ROOT);
  log(`runtime tree for the guest loads on the host (every @savevm package, koffi native) in ${seconds(Date.now() - tPre)}`);

  const kernel = await ensureKernel(join(LANE_DIR, 'kernel.config'), { rebuild: opts['rebuild-kernel'] });
  timings.kernelBuild = kernel.buildMs;

  // QEMU 10.0 goes into the guest only when the cache has it (qemu10-vfio.guest.mjs); under
  // CI=true a missing one is an error, elsewhere those tests report themselves skipped.
  const qemu10 = findCachedQemu10();
  if (qemu10 === undefined && process.env.CI === 'true') {
    throw new LaneError(`QEMU 10.0 is not in the cache and CI=true: run ${FETCH_QEMU10} (qemu10-vfio.guest.mjs needs it)`);
  }
  const q10 = qemu10 === undefined ? undefined : qemu10Files(qemu10);
  if (qemu10 === undefined) log(`QEMU 10.0 is not in the cache: the qemu10-vfio tests will be skipped (${FETCH_QEMU10})`);

  const work = mkdtempSync(join(tmpdir(), 'savevm-kernel-lane-'));
  try {
    const tInit = Date.now();
    const initrd = join(work, 'initramfs.cpio');
    const stats = buildInitramfs({
      outPath: initrd,
      repoRoot: REPO_ROOT,
      initScript: readFileSync(join(LANE_DIR, 'guest/init.sh'), 'utf8'),
      extraFiles: q10 ? [{ archive: GUEST_QEMU10_MANIFEST, data: `${JSON.stringify(q10.manifest)}\n` }] : [],
      hostFiles: q10?.files ?? [],
    });
    timings.initramfs = Date.now() - tInit;
    log(
      `initramfs: ${(stats.bytes / 1e6).toFixed(1)} MB, ${stats.entries} entries ` +
        `(node + libs ${(stats.nodeBytes / 1e6).toFixed(1)} MB, project ${(stats.projectBytes / 1e6).toFixed(1)} MB: ` +
        `${stats.packages.join(' ')}; deps ${stats.deps.join(' ')}` +
        (q10 ? `; QEMU ${q10.manifest.release} + ${q10.manifest.libraries} libs + firmware ${(stats.hostBytes / 1e6).toFixed(1)} MB` : '') +
        `) in ${seconds(timings.initramfs)}`,
    );

    const timeoutS = Number(opts.timeout ?? process.env.SAVEVM_KERNEL_TIMEOUT ?? 300);
    if (!(timeoutS > 0)) throw new LaneError(`bad timeout ${opts.timeout ?? process.env.SAVEVM_KERNEL_TIMEOUT}`);
    const filter = opts.filter ?? process.env.SAVEVM_FILTER ?? '';
    if (/\s/.test(filter)) throw new LaneError('the filter cannot contain spaces (it goes on the kernel command line)');
    const append = ['console=ttyS0', 'panic=-1', 'loglevel=4', filter ? `SAVEVM_FILTER=${filter}` : ''].filter(Boolean).join(' ');
    const consoleLog = join(reportDir, 'console.log');
    const resultsLog = join(reportDir, 'results.log');
    rmSync(resultsLog, { force: true });
    log(`booting qemu-system-x86_64 (TCG, timeout ${timeoutS} s); console: ${consoleLog}`);
    const boot = await bootGuest({
      kernel: kernel.bzImage,
      initrd,
      append,
      consoleLog,
      resultsLog,
      timeoutMs: timeoutS * 1000,
      onLine: (line) => {
        if (opts.verbose) process.stdout.write(`  | ${line}\n`);
        else if (/^(not ok|ok) \d+ - /.test(line)) process.stdout.write(`  ${line}\n`);
      },
    });
    timings.boot = boot.ms;
    const consoleText = readFileSync(consoleLog, 'utf8');
    const initStart = /SAVEVM-INIT: start, uptime ([\d.]+)/.exec(consoleText)?.[1];
    const runnerStart = /SAVEVM-INIT: running the guest runner, uptime ([\d.]+)/.exec(consoleText)?.[1];
    log(
      `guest ${boot.timedOut ? 'TIMED OUT' : 'finished'} after ${seconds(boot.ms)} wall` +
        (initStart ? `; /init at ${initStart} s guest uptime` : '') +
        (runnerStart ? `, runner at ${runnerStart} s` : ''),
    );

    // The result port (ttyS1) is free of kernel messages; fall back to the console.
    let results = parseResults(existsSync(resultsLog) ? readFileSync(resultsLog, 'utf8') : '');
    let source = 'ttyS1';
    if (!results.complete) {
      results = parseResults(consoleText);
      source = 'console';
    }

    const problems = [...results.errors];
    if (boot.timedOut) problems.push(`the guest did not finish within ${timeoutS} s (QEMU killed)`);
    if (!results.complete) problems.push('no complete result block from the guest (runner crashed, or the guest hung or panicked)');
    if (!boot.timedOut && boot.exitCode !== 0) problems.push(`qemu exited with ${boot.signal ?? boot.exitCode}`);
    if (/Kernel panic/.test(consoleText) && !/reboot: Restarting system|reboot: Power down/.test(consoleText)) {
      problems.push('kernel panic (see the console log)');
    }

    const passed = results.tests.filter((t) => t.status === 'pass').length;
    const skipped = results.tests.filter((t) => t.status === 'skip').length;
    const failed = results.tests.filter((t) => t.status !== 'pass' && t.status !== 'skip').length;
    if (skipped > 0 && process.env.CI === 'true') problems.push(`${skipped} tests skipped under CI=true`);
    const report = [];
    report.push(`savevm kernel lane report, ${new Date().toISOString()}`);
    report.push(`kernel: ${kernel.bzImage} (${kernel.cached ? 'cached' : `built in ${seconds(kernel.buildMs)}`})`);
    if (results.summary?.kernel) report.push(`guest: ${results.summary.kernel}; node ${results.summary.node}`);
    report.push(`timings: ${Object.entries(timings).map(([k, v]) => `${k} ${seconds(v)}`).join(', ')}; results from ${source}`);
    report.push('');
    for (const t of results.tests) {
      const line = t.status === 'skip' ? `SKIP ${t.id}: ${t.reason}` : `${t.status === 'pass' ? 'PASS' : 'FAIL'} ${t.id} (${t.ms} ms)`;
      process.stdout.write(`${line}\n`);
      report.push(line);
      if (t.status === 'fail') {
        const err = t.error.split('\n').map((l) => `    ${l}`).join('\n');
        process.stdout.write(`${err}\n`);
        report.push(err);
      }
    }
    for (const r of results.reports) {
      const head = `--- report from ${r.test}: ${r.title}`;
      const body = r.lines.map((l) => `    ${l}`).join('\n');
      if (r.console !== false) process.stdout.write(`${head}\n${body}\n`);
      report.push('', head, body);
    }
    for (const p of problems) {
      process.stdout.write(`LANE PROBLEM: ${p}\n`);
      report.push(`LANE PROBLEM: ${p}`);
    }
    if (problems.length > 0 || failed > 0) {
      const tail = consoleText.split('\n').slice(-60).join('\n');
      report.push('', '--- last 60 console lines', tail);
      if (problems.length > 0) process.stdout.write(`--- last 60 console lines:\n${tail}\n`);
    }
    const failures = failed + (problems.length > 0 ? 1 : 0);
    const summary = `${passed} passed, ${failures} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
    report.push('', summary);
    const reportFile = join(reportDir, 'report.txt');
    writeFileSync(reportFile, `${report.join('\n')}\n`);
    writeFileSync(join(reportDir, 'results.json'), `${JSON.stringify({ ...results, problems, timings }, null, 2)}\n`);
    log(`report: ${reportFile}; lane total ${seconds(Date.now() - laneStart)}`);
    process.stdout.write(`${summary}\n`);
    return failures === 0 && passed > 0 ? 0 : 1;
  } finally {
    if (opts.keep) log(`work directory kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stdout.write(`[kernel-lane] FAILED: ${error instanceof LaneError ? error.message : error.stack}\n`);
  process.stdout.write('0 passed, 1 failed\n');
  process.exitCode = 1;
}
