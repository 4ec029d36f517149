/** Runs `main` in-process with captured output, and parses its JSON lines. */
import { main, type CliOutput } from '../../src/index.js';

/** A captured run. */
export interface CliRun {
  readonly code: Promise<number>;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Every JSON line of stdout so far. */
  readonly records: () => Array<Record<string, unknown>>;
  /** Resolves with the first record matching `event`. */
  readonly waitFor: (event: string) => Promise<Record<string, unknown>>;
}

/** Starts `savevm ARGS…` without a terminal. */
export function runCli(args: readonly string[], extra: Partial<CliOutput> = {}): CliRun {
  let out = '';
  let err = '';
  const waiters: Array<{ event: string; resolve: (r: Record<string, unknown>) => void }> = [];
  const records = (): Array<Record<string, unknown>> =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const output: CliOutput = {
    stdout: (t) => {
      out += t;
      for (const w of [...waiters]) {
        const hit = records().find((r) => r.event === w.event);
        if (hit) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(hit);
        }
      }
    },
    stderr: (t) => {
      err += t;
    },
    ...extra,
  };
  const code = main(args, output);
  return {
    code,
    stdout: () => out,
    stderr: () => err,
    records,
    waitFor: (event) =>
      new Promise((resolve) => {
        const hit = records().find((r) => r.event === event);
        if (hit) resolve(hit);
        else waiters.push({ event, resolve });
      }),
  };
}

/** The summary record of a run. */
export function summaryOf(run: CliRun): Record<string, unknown> & { devices: Array<Record<string, unknown>> } {
  const s = run.records().find((r) => r.event === 'summary');
  if (!s) throw new Error(`no summary; stderr: ${run.stderr()}`);
  return s as Record<string, unknown> & { devices: Array<Record<string, unknown>> };
}
