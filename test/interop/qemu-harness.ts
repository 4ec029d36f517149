/**
 * Real-peer harness: QEMU 7.2 and 10.0 (`qemu-system-x86_64`) as the other end of a migration.
 *
 * - {@link loadStream} feeds bytes to `-incoming "exec:cat FILE"` and reports whether QEMU
 *   accepted them, its exit code, stderr and the run state it ended up in.
 * - {@link saveStream} has QEMU `migrate` to `exec:cat > FILE` and returns the bytes.
 *
 * Every call has a deadline (a hang is a failure), and every QEMU process and temp dir is
 * gone when the call settles. The lower layers are re-exported for tests that need QMP.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClosedError, type QmpValue, withTimeout } from './qmp-client.js';
import { type QemuExit, type QemuProcess, shellQuote, withQemu } from './qemu-process.js';
import type { QemuVersion } from './qemu-versions.js';

export * from './qmp-client.js';
export * from './qemu-process.js';
export * from './qemu-versions.js';
export * from './qemu-facts.js';
export { describeEachQemu, describeWithQemu, qemuTestPolicy, type QemuTestPolicy } from './with-qemu.js';

/** Default deadline of one harness call. */
export const DEFAULT_QEMU_TIMEOUT_MS = 15_000;

/** What QEMU did with an incoming stream. */
export interface LoadResult {
  /** The load finished and QEMU left `inmigrate`. */
  readonly accepted: boolean;
  /** Exit code: QEMU's own (1 on a rejected stream), or that of the `quit` after an accepted one. */
  readonly exitCode: number | null;
  /** All of QEMU's stderr. */
  readonly stderr: string;
  /** `query-status` right after the load, when accepted (`paused`, `running`, …). */
  readonly status: string | undefined;
}

/** Options of {@link loadStream}. */
export interface LoadOptions {
  /** `-machine` value. */
  readonly machine: string;
  /** Start with `-S` (default true); without it the run state comes from the stream. */
  readonly paused?: boolean;
  /** `-m` in MiB (default: none given). */
  readonly memoryMiB?: number;
  /** Deadline of the whole call (default {@link DEFAULT_QEMU_TIMEOUT_MS}). */
  readonly timeoutMs?: number;
  /** Which QEMU (default 7.2). */
  readonly qemu?: QemuVersion;
}

/** Options of {@link saveStream}. */
export interface SaveOptions {
  /** `-machine` value. */
  readonly machine: string;
  /** Let the VM run (no `-S`) before migrating; default false. */
  readonly running?: boolean;
  /** `-m` in MiB. */
  readonly memoryMiB?: number;
  /** Deadline of the whole call (default {@link DEFAULT_QEMU_TIMEOUT_MS}). */
  readonly timeoutMs?: number;
  /** Which QEMU (default 7.2). */
  readonly qemu?: QemuVersion;
  /** With `running`: how long the VM runs before `migrate` (default 0). */
  readonly runForMs?: number;
}

function field(v: QmpValue, key: string): QmpValue | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v[key] : undefined;
}

/** `query-status`'s `status` string. */
export async function queryStatus(q: QemuProcess, timeoutMs = 5000): Promise<string> {
  const reply = await (await q.qmp(timeoutMs)).execute('query-status', undefined, timeoutMs);
  const status = field(reply, 'status');
  if (typeof status !== 'string') throw new Error(`query-status: unexpected reply ${JSON.stringify(reply)}`);
  return status;
}

type IncomingOutcome = { readonly kind: 'loaded'; readonly status: string } | { readonly kind: 'exited'; readonly exit: QemuExit };

/** Polls until QEMU leaves `inmigrate` (loaded) or exits (rejected). */
async function awaitIncoming(q: QemuProcess, timeoutMs: number): Promise<IncomingOutcome> {
  try {
    for (;;) {
      if (q.exited) return { kind: 'exited', exit: await q.exit };
      const status = await queryStatus(q, timeoutMs);
      if (status !== 'inmigrate') return { kind: 'loaded', status };
      await sleep(10);
    }
  } catch (err) {
    // QEMU exits on a failed load: the socket closes (or never opens) under us.
    if (err instanceof QmpClosedError || q.exited) return { kind: 'exited', exit: await q.exit };
    throw err;
  }
}

/**
 * Feeds `bytes` to a fresh QEMU as `-incoming "exec:cat FILE"` and reports the outcome.
 * Refuses an empty stream (QEMU would wait in `inmigrate` forever).
 */
export async function loadStream(bytes: Uint8Array, options: LoadOptions): Promise<LoadResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_QEMU_TIMEOUT_MS;
  const launch = {
    machine: options.machine,
    paused: options.paused ?? true,
    incoming: bytes,
    ...(options.memoryMiB === undefined ? {} : { memoryMiB: options.memoryMiB }),
    ...(options.qemu === undefined ? {} : { qemu: options.qemu }),
  };
  return withQemu(launch, async (q) => {
    const outcome = await withTimeout(awaitIncoming(q, timeoutMs), timeoutMs, () => `the incoming migration to end (stderr: ${q.stderr})`);
    if (outcome.kind === 'exited') {
      return { accepted: false, exitCode: outcome.exit.code, stderr: q.stderr, status: undefined };
    }
    const exit = await q.quit(timeoutMs);
    return { accepted: true, exitCode: exit.code, stderr: q.stderr, status: outcome.status };
  });
}

/** Polls `query-migrate` until `completed`; throws on `failed`/`cancelled`. */
async function awaitMigration(q: QemuProcess, timeoutMs: number): Promise<void> {
  const qmp = await q.qmp(timeoutMs);
  for (;;) {
    const info = await qmp.execute('query-migrate', undefined, timeoutMs);
    const status = field(info, 'status');
    if (status === 'completed') return;
    if (status === 'failed' || status === 'cancelled') {
      throw new Error(`QEMU migration ${status}: ${JSON.stringify(field(info, 'error-desc') ?? null)}; stderr: ${q.stderr}`);
    }
    await sleep(10);
  }
}

/** Waits for a file to appear (the exec: writer renames it into place when done). */
async function awaitFile(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/**
 * Starts QEMU (`-machine M`, paused with `-S` unless `running`), migrates it with QMP
 * `migrate` to `exec:cat > FILE`, and returns the whole outgoing stream.
 */
export async function saveStream(options: SaveOptions): Promise<Buffer> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_QEMU_TIMEOUT_MS;
  const launch = {
    machine: options.machine,
    paused: !(options.running ?? false),
    ...(options.memoryMiB === undefined ? {} : { memoryMiB: options.memoryMiB }),
    ...(options.qemu === undefined ? {} : { qemu: options.qemu }),
  };
  return withQemu(launch, async (q) => {
    const run = async (): Promise<Buffer> => {
      const qmp = await q.qmp(timeoutMs);
      if (options.running === true && options.runForMs !== undefined) await sleep(options.runForMs);
      const out = join(q.dir, 'outgoing.mig');
      const part = `${out}.part`;
      // cat sees EOF only once QEMU closed the stream, so the rename marks a complete file.
      const uri = `exec:cat > ${shellQuote(part)} && mv ${shellQuote(part)} ${shellQuote(out)}`;
      await qmp.execute('migrate', { uri }, timeoutMs);
      await awaitMigration(q, timeoutMs);
      await awaitFile(out, timeoutMs);
      const bytes = readFileSync(out);
      await q.quit(timeoutMs);
      return bytes;
    };
    return withTimeout(run(), timeoutMs, () => `QEMU's outgoing migration (stderr: ${q.stderr})`);
  });
}
