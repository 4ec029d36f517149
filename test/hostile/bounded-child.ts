/**
 * Runs a TypeScript script in a child Node with a heap cap and a watchdog, for tests of
 * hostile inputs: a hang is a timeout, unbounded memory is a heap abort, and neither takes
 * the test runner with it (see `docs/design/hostile-input.md`, "Proof").
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How a bounded child ended. */
export interface BoundedChildResult {
  /** Exit code (null when killed by a signal). */
  readonly code: number | null;
  /** Signal that ended it, if any. */
  readonly signal: NodeJS.Signals | null;
  /** Whether the watchdog killed it. */
  readonly timedOut: boolean;
  /** Milliseconds it ran. */
  readonly ms: number;
  /** Its stdout. */
  readonly stdout: string;
  /** Its stderr. */
  readonly stderr: string;
}

/** Limits of a bounded child. */
export interface BoundedChildLimits {
  /** Watchdog: SIGKILL after this long (default 20 s). */
  readonly timeoutMs?: number;
  /** V8 old-space cap, MiB (default 256). */
  readonly heapMb?: number;
}

/**
 * Runs `script` (a path relative to this directory, or absolute) with `input` as JSON on its
 * stdin; resolves when it ends or the watchdog killed it.
 */
export function runBoundedChild(script: string, input: unknown, limits: BoundedChildLimits = {}): Promise<BoundedChildResult> {
  const path = script.startsWith('/') ? script : fileURLToPath(new URL(script, import.meta.url));
  const started = Date.now();
  // The packages resolve to their built dist (`npm test` runs `tsc -b` first): tsx cannot
  // compile core's decorators, and the child then runs what is shipped.
  const child = spawn(process.execPath, ['--import', 'tsx', `--max-old-space-size=${limits.heapMb ?? 256}`, path], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  child.stdin.end(JSON.stringify(input));
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, limits.timeoutMs ?? 20_000);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(watchdog);
      resolve({ code, signal, timedOut, ms: Date.now() - started, stdout, stderr });
    });
  });
}

/** Reads the JSON a bounded child was given on stdin. */
export async function readChildInput<T>(): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
}
