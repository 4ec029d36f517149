/**
 * Starting and always tearing down a QEMU process for interop tests: a private temp dir
 * holding the QMP socket and stream files, a bounded wait for everything, and an exit hook
 * that kills whatever is left. QEMU stays in the runner's process group, so a Ctrl-C
 * reaches it too; its `exec:` children (`sh -c cat …`) end with it, by EOF or SIGPIPE.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, withTimeout } from './qmp-client.js';
import { QEMU_BINARY_NAME, QEMU_INSTALL_HINTS, knownQemus, type QemuVersion } from './qemu-versions.js';

export { QEMU_BINARY_NAME } from './qemu-versions.js';
/** How to install QEMU 7.2 on Debian/Ubuntu (the message of a skipped interop test). */
export const QEMU_INSTALL_HINT = QEMU_INSTALL_HINTS['7.2'];

/** How a QEMU process ended. */
export interface QemuExit {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null;
  /** The signal that killed it, if any. */
  readonly signal: NodeJS.Signals | null;
}

/** How to start QEMU. */
export interface QemuLaunchOptions {
  /** `-machine` value, e.g. `none`, `pc`. */
  readonly machine: string;
  /** `-m` in MiB; omitted when undefined. */
  readonly memoryMiB?: number;
  /** Start with `-S` (CPUs stopped); default true. */
  readonly paused?: boolean;
  /** Bytes to feed as `-incoming "exec:cat FILE"`; no `-incoming` when undefined. */
  readonly incoming?: Uint8Array;
  /** More command-line arguments. */
  readonly extraArgs?: readonly string[];
  /** Which QEMU (default 7.2). */
  readonly qemu?: QemuVersion;
}

/** Finds the binary of a QEMU version (default 7.2; see `qemu-versions.ts`), or undefined. */
export function findQemu(version: QemuVersion = '7.2'): string | undefined {
  return knownQemus().get(version)?.path;
}

/** Whether a QEMU of that version (default 7.2) is there. */
export function qemuAvailable(version: QemuVersion = '7.2'): boolean {
  return findQemu(version) !== undefined;
}

/** Quotes a path for `/bin/sh` (QEMU runs `exec:` URIs with `sh -c`). */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

const live = new Set<QemuProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const q of live) {
      q.killNow();
      rmSync(q.dir, { recursive: true, force: true });
    }
  });
}

/** How many QEMU processes started by this harness are not disposed of yet. */
export function liveQemuCount(): number {
  return live.size;
}

/** A running QEMU with its temp dir; call {@link QemuProcess.dispose} (or use {@link withQemu}). */
export class QemuProcess {
  /** Everything QEMU wrote to stderr so far. */
  stderr = '';
  /** Settles when the process has exited (never rejects). */
  readonly exit: Promise<QemuExit>;
  private exitInfo: QemuExit | undefined;
  private qmpClient: QmpClient | undefined;
  private disposed = false;

  private constructor(
    /** The private temp dir (QMP socket, stream files). */
    readonly dir: string,
    /** Path of the QMP socket. */
    readonly qmpPath: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    const exited = new Promise<QemuExit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    // stderr is complete once the pipe closes; cap the wait (an exec: child may hold it).
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    this.exit = exited.then(async (info) => {
      this.exitInfo = info;
      await Promise.race([closed, new Promise((r) => setTimeout(r, 500))]);
      return info;
    });
  }

  /** Starts QEMU with a QMP socket in a fresh temp dir. */
  static start(options: QemuLaunchOptions): QemuProcess {
    const version = options.qemu ?? '7.2';
    const binary = findQemu(version);
    if (!binary) throw new Error(`${QEMU_BINARY_NAME} ${version} not found; get it with: ${QEMU_INSTALL_HINTS[version]}`);
    const dir = mkdtempSync(join(tmpdir(), 'savevm-qemu-'));
    try {
      const qmpPath = join(dir, 'qmp.sock');
      const args = ['-machine', options.machine, '-nodefaults', '-display', 'none', '-accel', 'tcg'];
      if (options.memoryMiB !== undefined) args.push('-m', String(options.memoryMiB));
      if (options.paused ?? true) args.push('-S');
      args.push('-qmp', `unix:${qmpPath},server=on,wait=off`);
      if (options.incoming) {
        if (options.incoming.length === 0) {
          throw new RangeError('a 0-byte incoming stream would leave QEMU in inmigrate forever');
        }
        const file = join(dir, 'incoming.mig');
        writeFileSync(file, options.incoming);
        args.push('-incoming', `exec:cat ${shellQuote(file)}`);
      }
      args.push(...(options.extraArgs ?? []));
      const child = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      const q = new QemuProcess(dir, qmpPath, child);
      live.add(q);
      installExitHook();
      return q;
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** How the process ended, or undefined while it runs. */
  get exited(): QemuExit | undefined {
    return this.exitInfo;
  }

  /** The QMP session (connected and negotiated on first use; a TCG QEMU on a loaded 2-core machine can take seconds to answer). */
  async qmp(timeoutMs = 15_000): Promise<QmpClient> {
    this.qmpClient ??= await QmpClient.connect(this.qmpPath, timeoutMs, () => this.exitInfo === undefined);
    return this.qmpClient;
  }

  /** Asks QEMU to quit over QMP and waits for the exit; kills it if that fails. */
  async quit(timeoutMs = 5000): Promise<QemuExit> {
    if (this.exitInfo) return this.exitInfo;
    try {
      const qmp = await this.qmp(timeoutMs);
      await qmp.execute('quit', undefined, timeoutMs).catch(() => undefined);
      return await withTimeout(this.exit, timeoutMs, 'QEMU to exit after quit');
    } catch {
      this.killNow();
      return this.exit;
    }
  }

  /** SIGKILLs QEMU unless it has exited already. */
  killNow(): void {
    if (this.exitInfo || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
  }

  /** Kills whatever still runs, closes QMP and removes the temp dir; idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.qmpClient?.close();
    this.killNow();
    await this.exit;
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs `fn` with a started QEMU and disposes of it (process and temp dir) on every path. */
export async function withQemu<T>(options: QemuLaunchOptions, fn: (q: QemuProcess) => Promise<T>): Promise<T> {
  const q = QemuProcess.start(options);
  try {
    return await fn(q);
  } finally {
    await q.dispose();
  }
}
