#!/usr/bin/env node
// runner.mjs — the kernel lane's guest test runner (plain node, no vitest: it runs inside the
// guest). It discovers test/kernel/guest/*.guest.mjs, runs every exported function of each
// file as a test (in file order, then export-name order) with a timeout, prints one line per
// test (TAP-like), and ends with a machine-readable result block that the host parses:
//   =====SAVEVM-RESULTS-BEGIN=====
//   {"type":"test",...} / {"type":"report",...} lines
//   {"type":"summary","passed":N,"failed":M,...}
//   =====SAVEVM-RESULTS-END=====
// The block goes to stdout (the serial console) and, when present, to /dev/ttyS1 (a second
// serial port the host captures to a file, free of kernel messages).
// Test files, the context they get (t.*) and how to add one: see test/kernel/README.md.
import { closeSync, existsSync, openSync, readFileSync, readdirSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openVfioFds } from './lib/fds.mjs';
import { createMdev, describeMdev, removeMdev } from './lib/mdev.mjs';

const GUEST_DIR = dirname(fileURLToPath(import.meta.url));
const DEFAULT_TIMEOUT_MS = 30_000;
const FIXTURE_FILE = '/run/savevm/fixture.json';
const RESULTS_TTY = '/dev/ttyS1';
export const BEGIN = '=====SAVEVM-RESULTS-BEGIN=====';
export const END = '=====SAVEVM-RESULTS-END=====';

const out = (line) => process.stdout.write(`${line}\n`);

/** Thrown by `t.skip(reason)`: the test did not run, for a reason the lane prints (SKIP). */
class TestSkipped extends Error {}

/** Formats an error for a result line: message and the first frames of the stack. */
function describeError(error) {
  if (error instanceof Error) {
    const stack = (error.stack ?? `${error.name}: ${error.message}`).split('\n').slice(0, 8).join('\n');
    const cause = error.cause instanceof Error ? `\ncaused by: ${error.cause.message}` : '';
    return `${stack}${cause}`;
  }
  return String(error);
}

/** The mdevs /init created ({ mtty2a, mtty2b, mtty1, mdpy } → describeMdev()), or an error text. */
function loadFixture() {
  if (!existsSync(FIXTURE_FILE)) return { error: `${FIXTURE_FILE} missing: /init did not create the fixture mdevs` };
  const spec = JSON.parse(readFileSync(FIXTURE_FILE, 'utf8'));
  const fixture = {};
  const errors = [];
  for (const [key, uuid] of Object.entries(spec)) {
    try {
      fixture[key] = describeMdev(uuid);
    } catch (error) {
      errors.push(`${key}: ${error.message}`);
    }
  }
  return errors.length > 0 ? { ...fixture, error: errors.join('; ') } : fixture;
}

/** Discovers the test files and their tests: [{ file, name, fn, timeoutMs }]. */
async function discover(filter) {
  const files = readdirSync(GUEST_DIR).filter((f) => f.endsWith('.guest.mjs')).sort();
  const tests = [];
  const loadErrors = [];
  for (const file of files) {
    let mod;
    try {
      mod = await import(pathToFileURL(join(GUEST_DIR, file)).href);
    } catch (error) {
      loadErrors.push({ file, name: '(load)', error });
      continue;
    }
    const fileTimeout = typeof mod.timeoutMs === 'number' ? mod.timeoutMs : DEFAULT_TIMEOUT_MS;
    for (const [name, fn] of Object.entries(mod)) {
      if (typeof fn !== 'function') continue;
      const id = `${file} > ${name}`;
      if (filter && !id.includes(filter)) continue;
      tests.push({ file, name, id, fn, timeoutMs: typeof fn.timeoutMs === 'number' ? fn.timeoutMs : fileTimeout });
    }
  }
  return { files, tests, loadErrors };
}

/** The context a test function receives. */
function makeContext(test, fixture, reports) {
  const defers = [];
  const mdevs = new Set();
  const controller = new AbortController();
  const t = {
    name: test.name,
    file: test.file,
    fixture,
    signal: controller.signal,
    log: (...args) => out(`#   ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`),
    report: (title, lines, { console = true } = {}) => {
      const list = Array.isArray(lines) ? lines.map(String) : String(lines).split('\n');
      reports.push({ type: 'report', test: test.id, title, lines: list, console });
    },
    defer: (fn) => defers.push(fn),
    skip: (reason) => {
      throw new TestSkipped(reason);
    },
    createMdev: (type, uuid) => {
      const mdev = createMdev(type, uuid);
      mdevs.add(mdev.uuid);
      return mdev;
    },
    removeMdev: async (uuid) => {
      mdevs.delete(uuid);
      await removeMdev(uuid);
    },
  };
  /** Runs the cleanups (LIFO), then removes the test's mdevs; returns the errors. */
  const cleanup = async () => {
    const errors = [];
    while (defers.length > 0) {
      try {
        await defers.pop()();
      } catch (error) {
        errors.push(error);
      }
    }
    for (const uuid of mdevs) {
      try {
        await removeMdev(uuid);
      } catch (error) {
        errors.push(error);
      }
    }
    mdevs.clear();
    return errors;
  };
  return { t, cleanup, abort: () => controller.abort(new Error('test timed out')) };
}

/** Runs one test: the function, its cleanups, and a check for leaked VFIO fds. */
async function runTest(test, fixture, reports) {
  const started = Date.now();
  const fdsBefore = openVfioFds();
  const { t, cleanup, abort } = makeContext(test, fixture, reports);
  let failure;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      abort();
      reject(new Error(`timed out after ${test.timeoutMs} ms`));
    }, test.timeoutMs);
  });
  const current = (async () => test.fn(t))();
  runTest.current = { reject: (error) => (failure ??= error) };
  try {
    await Promise.race([current, timeout]);
  } catch (error) {
    failure ??= error;
  } finally {
    clearTimeout(timer);
    runTest.current = undefined;
  }
  current.catch(() => {}); // a timed-out test may still reject later
  const cleanupErrors = await cleanup();
  if (failure === undefined && cleanupErrors.length > 0) failure = cleanupErrors[0];
  const leaked = [...openVfioFds()].filter(([fd]) => !fdsBefore.has(fd));
  if (leaked.length > 0) {
    const text = `leaked VFIO fds: ${leaked.map(([fd, target]) => `${fd}→${target}`).join(', ')}`;
    failure = failure === undefined ? new Error(text) : new Error(`${text}; and: ${failure?.message ?? failure}`, { cause: failure });
  }
  return { ms: Date.now() - started, failure };
}

/** Writes the result block to the console and to the second serial port. */
function emitResults(records) {
  const lines = [BEGIN, ...records.map((r) => JSON.stringify(r)), END];
  out(lines.join('\n'));
  if (existsSync(RESULTS_TTY)) {
    try {
      const fd = openSync(RESULTS_TTY, 'w');
      writeSync(fd, `${lines.join('\n')}\n`);
      closeSync(fd);
    } catch (error) {
      out(`# could not write the result block to ${RESULTS_TTY}: ${error.message}`);
    }
  }
}

async function main() {
  const started = Date.now();
  const filter = process.env.SAVEVM_FILTER || '';
  const fixture = loadFixture();
  process.on('unhandledRejection', (error) => runTest.current?.reject(error));
  process.on('uncaughtException', (error) => runTest.current?.reject(error));

  const { files, tests, loadErrors } = await discover(filter);
  out(`# guest runner: node ${process.version}, ${files.length} test files, ${tests.length} tests${filter ? ` (filter "${filter}")` : ''}`);
  const records = [];
  const reports = [];
  let index = 0;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const { file, name, error } of loadErrors) {
    index++;
    failed++;
    out(`not ok ${index} - ${file} > ${name}`);
    out(`#   ${describeError(error).replaceAll('\n', '\n#   ')}`);
    records.push({ type: 'test', id: `${file} > ${name}`, file, name, status: 'fail', ms: 0, error: describeError(error) });
  }
  if (tests.length === 0 && loadErrors.length === 0) {
    failed++;
    records.push({ type: 'test', id: 'runner > discovery', file: 'runner', name: 'discovery', status: 'fail', ms: 0, error: `no tests found${filter ? ` for filter "${filter}"` : ''}` });
    out('not ok 1 - runner > discovery: no tests found');
  }
  for (const test of tests) {
    index++;
    const { ms, failure } = await runTest(test, fixture, reports);
    if (failure instanceof TestSkipped) {
      skipped++;
      out(`ok ${index} - ${test.id} # SKIP ${failure.message}`);
      records.push({ type: 'test', id: test.id, file: test.file, name: test.name, status: 'skip', ms, reason: failure.message });
    } else if (failure === undefined) {
      passed++;
      out(`ok ${index} - ${test.id} (${ms} ms)`);
      records.push({ type: 'test', id: test.id, file: test.file, name: test.name, status: 'pass', ms });
    } else {
      failed++;
      const text = describeError(failure);
      out(`not ok ${index} - ${test.id} (${ms} ms)`);
      out(`#   ${text.replaceAll('\n', '\n#   ')}`);
      records.push({ type: 'test', id: test.id, file: test.file, name: test.name, status: 'fail', ms, error: text });
    }
  }
  for (const report of reports) {
    if (!report.console) continue;
    out(`# report: ${report.test}: ${report.title}`);
    for (const line of report.lines) out(`#   ${line}`);
  }
  let kernel = '';
  try {
    kernel = readFileSync('/proc/version', 'utf8').trim();
  } catch {}
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  records.push(...reports);
  records.push({ type: 'summary', passed, failed, skipped, ms: Date.now() - started, node: process.version, kernel, uptimeS: uptime });
  out(`# ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''} (${Date.now() - started} ms)`);
  emitResults(records);
  return failed === 0 ? 0 : 1;
}

const code = await main().catch((error) => {
  out(`# runner crashed: ${describeError(error)}`);
  emitResults([{ type: 'summary', passed: 0, failed: 1, crashed: describeError(error) }]);
  return 2;
});
// Exit now: a timed-out test may still hold timers or a stuck child (stdout on a tty is synchronous).
process.exit(code);
