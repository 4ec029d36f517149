/**
 * Issue 17 item 7: the real `savevm` process on SIGINT and SIGTERM. `inspect` stops within
 * a second and exits 130 (reading `/dev/zero`, or in the middle of a long stream); it refuses
 * an input with no end by its documented size limit (`--max-bytes`); an idle `incoming`
 * exits 130 as `savevm --help` documents — also one waiting on a FIFO nobody writes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ByteArrayWriter, writeConfiguration, writeEof, writeHeader, writeSectionFooter, writeSectionFull } from '@savevm/stream';
import { InspectInterruptedError, inspectStream } from '@savevm/inspect';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/savevm.js', import.meta.url));
const fifoDir = mkdtempSync(join(tmpdir(), 'savevm-signals-'));
afterAll(() => rmSync(fifoDir, { recursive: true, force: true }));

interface Ended {
  readonly code: number | null;
  readonly stderr: string;
  /** Milliseconds from the signal to the exit. */
  readonly afterSignalMs: number;
}

/** Bytes a process has read so far (`rchar` of /proc/PID/io), 0 when it is gone. */
function bytesRead(pid: number | undefined): number {
  try {
    return Number(/^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Ready once the process has read more than this many bytes: its command runs, its signal handlers are in place. */
const READING = { readBytes: 4 * 1024 * 1024 } as const;

/**
 * Starts `savevm ARGS`, sends `signal` once `ready` matches its output, once it has read
 * `ready.readBytes` bytes, or after `ready` ms, and waits for the end.
 */
function signalled(args: string[], signal: NodeJS.Signals, ready: RegExp | number | typeof READING): Promise<Ended> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  let sentAt = 0;
  const send = (): void => {
    if (sentAt !== 0) return;
    sentAt = Date.now();
    child.kill(signal);
  };
  child.stdout.setEncoding('utf8').on('data', (t: string) => {
    out += t;
    if (ready instanceof RegExp && ready.test(out)) send();
  });
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  if (typeof ready === 'number') setTimeout(send, ready);
  const poll =
    typeof ready === 'object' && !(ready instanceof RegExp)
      ? setInterval(() => {
          if (bytesRead(child.pid) > ready.readBytes) send();
        }, 20)
      : undefined;
  const watchdog = setTimeout(() => child.kill('SIGKILL'), 15_000);
  // 'exit', not 'close': an exec: source inherits stderr and may hold it open longer.
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(watchdog);
      clearInterval(poll);
      const afterSignalMs = Date.now() - sentAt;
      setTimeout(() => resolve({ code, stderr, afterSignalMs }), 100);
    });
  });
}

describe('signals and endless inputs', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('inspect /dev/zero stops on %s within a second and exits 130', async (signal) => {
    const ended = await signalled(['inspect', '/dev/zero', '--max-bytes', '64G'], signal, READING);
    expect(ended.code).toBe(130);
    expect(ended.afterSignalMs).toBeLessThan(1000);
    expect(ended.stderr).toMatch(/^savevm inspect: interrupted after reading \d+ bytes of \/dev\/zero\n$/);
  });

  it('inspect refuses an input longer than --max-bytes (default 1 GiB), naming the limit', async () => {
    const ended = await signalled(['inspect', '/dev/zero', '--max-bytes', '8M'], 'SIGINT', 60_000);
    expect(ended.code).toBe(1);
    expect(ended.stderr).toBe('savevm inspect: /dev/zero is larger than the 8388608 bytes inspect reads (--max-bytes)\n');
  });

  it('an idle incoming (listening, or its exec: source silent) exits 130 on SIGINT within a second', async () => {
    const listening = await signalled(['incoming', 'tcp::0', '--device', 'emulated:a,size=4K'], 'SIGINT', /"event":"listening"/);
    expect(listening.code).toBe(130);
    expect(listening.afterSignalMs).toBeLessThan(1000);
    const silent = await signalled(['incoming', 'exec:sleep 5', '--device', 'emulated:a,size=4K'], 'SIGTERM', /"event":"connected"/);
    expect(silent.code).toBe(130);
    expect(silent.afterSignalMs).toBeLessThan(1000);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('an idle incoming file:<FIFO> nobody writes stops on %s by itself and exits 130', async (signal) => {
    // The FIFO's open waits for a writer off the event loop: the command itself sees the
    // signal and ends (the last-resort exit a second later never has to step in).
    const fifo = join(fifoDir, `idle-${signal}.fifo`);
    execFileSync('mkfifo', [fifo]);
    const ended = await signalled(['incoming', `file:${fifo}`, '--device', 'emulated:a,size=4K'], signal, /"event":"listening"/);
    expect(ended.code).toBe(130);
    expect(ended.stderr).toBe('savevm incoming: CANCELLED during connect; the devices run again as before\n');
  });

  it('inspectStream gives the event loop a turn and stops on its signal in a long stream', async () => {
    const f = new ByteArrayWriter();
    writeHeader(f);
    writeConfiguration(f, 'pc');
    for (let i = 0; i < 5000; i++) {
      writeSectionFull(f, { sectionId: i, idstr: `d${i}`, instanceId: 0, versionId: 1 });
      writeSectionFooter(f, i);
    }
    writeEof(f);
    const bytes = f.bytes();
    const controller = new AbortController();
    setImmediate(() => controller.abort());
    await expect(inspectStream(bytes, { signal: controller.signal })).rejects.toBeInstanceOf(InspectInterruptedError);
    expect((await inspectStream(bytes, { signal: new AbortController().signal })).records).toHaveLength(5000 + 3);
  });
});
