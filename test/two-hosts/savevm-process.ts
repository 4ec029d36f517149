/** `savevm` run as a process inside a network namespace, its JSON lines collected. */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../../examples/migrator/bin/savevm.js');

/** A running `savevm`. */
export interface SavevmProcess {
  readonly child: ChildProcess;
  /** Every JSON line so far. */
  records(): Array<Record<string, unknown>>;
  /** stderr so far. */
  stderr(): string;
  /** Resolves with the first record that matches. */
  waitFor(match: (r: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code and the time it took from spawn, ms. */
  readonly exited: Promise<{ code: number; atMs: number }>;
  /** The summary line. */
  summary(): Record<string, unknown> & { devices: Array<Record<string, unknown>> };
}

/** Starts `savevm ARGS…` in namespace `ns`. */
export function savevmIn(ns: string, args: readonly string[]): SavevmProcess {
  const started = Date.now();
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const records = (): Array<Record<string, unknown>> =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const exited = new Promise<{ code: number; atMs: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code: code ?? -1, atMs: Date.now() - started })),
  );
  return {
    child,
    records,
    stderr: () => err,
    exited,
    waitFor: (match, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = records().find(match);
          if (hit) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting; stdout: ${out.slice(-500)} stderr: ${err}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
    summary: () => {
      const s = records().find((r) => r.event === 'summary');
      if (!s) throw new Error(`no summary; stderr: ${err}`);
      return s as Record<string, unknown> & { devices: Array<Record<string, unknown>> };
    },
  };
}
