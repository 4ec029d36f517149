/**
 * Runs a migration between two VMM processes on this machine: the destination first, on
 * `tcp:127.0.0.1:0`; the source once the destination printed the URI it really listens on.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** `live`: a migration that completes. `refused`: the destination has version 1 of the clock. */
export type PairMode = 'live' | 'refused';

/** Which process a line came from. */
export type VmmRole = 'destination' | 'source';

/** How one VMM process ended. */
export interface VmmRun {
  /** Its exit code (`ExitCode`), or -1 when a signal ended it. */
  readonly code: number;
  /** Everything it printed, stdout and stderr, line by line. */
  readonly lines: readonly string[];
}

/** How both ended. */
export interface PairResult {
  /** The destination process. */
  readonly destination: VmmRun;
  /** The source process. */
  readonly source: VmmRun;
}

/** The compiled VMM (this file runs from `src/` under vitest and from `dist/` under node). */
const VMM_SCRIPT = fileURLToPath(new URL('../dist/vmm.js', import.meta.url));

/** Starts `node dist/vmm.js ARGS`; `onLine` sees each line it prints. */
function startVmm(args: readonly string[], onLine: (line: string) => void): Promise<VmmRun> {
  const child = spawn(process.execPath, [VMM_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      onLine(line);
    });
  }
  return new Promise<VmmRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, lines }));
  });
}

/**
 * Runs both processes; `onLine` sees every line either prints.
 * @throws Error when the destination ends before it listens
 */
export async function runPair(mode: PairMode, onLine: (role: VmmRole, line: string) => void = () => undefined): Promise<PairResult> {
  let listening!: (uri: string) => void;
  const uri = new Promise<string>((resolve) => (listening = resolve));
  const destination = startVmm(['incoming', 'tcp:127.0.0.1:0', ...(mode === 'refused' ? ['--old-rtc'] : [])], (line) => {
    const match = /^listening (\S+)$/.exec(line);
    if (match?.[1] !== undefined) listening(match[1]);
    onLine('destination', line);
  });
  const first = await Promise.race([uri, destination]);
  if (typeof first !== 'string') {
    throw new Error(`the destination exited with ${first.code} before it listened: ${first.lines.join(' / ')}`);
  }
  const source = startVmm(['migrate', first], (line) => onLine('source', line));
  const [s, d] = await Promise.all([source, destination]);
  return { source: s, destination: d };
}
