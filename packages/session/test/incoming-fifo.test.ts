/**
 * A `file:` destination on a FIFO nobody writes (issue 17 item 7): the open waits for a
 * writer off the event loop, so an abort stops it at once (CANCELLED), and the thread-pool
 * thread that waited is freed — more aborted waits than libuv has threads leave file I/O
 * working (docs/design/hostile-input.md). A FIFO that does get a writer loads as a file.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMigrationSession, type MigrationSession } from '../src/index.js';
import { BlobDevice } from './helpers/blob-device.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-fifo-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill();
  rmSync(dir, { recursive: true, force: true });
});

async function vm(state: Buffer): Promise<{ session: MigrationSession; device: BlobDevice }> {
  const session = await createMigrationSession();
  const device = new BlobDevice(state);
  session.registry.register('blob', 0, 1, device);
  return { session, device };
}

function fifo(name: string): string {
  const path = join(dir, name);
  execFileSync('mkfifo', [path]);
  return path;
}

describe('incoming file: on a FIFO', () => {
  // The timeout outlasts the writer below, so code that blocks fails on the mark instead of hanging on.
  it('an abort stops the wait for a writer at once, and frees the thread that waited (5 times, libuv has 4)', { timeout: 30_000 }, async () => {
    const fifos = Array.from({ length: 5 }, (_, i) => fifo(`idle-${i}.fifo`));
    // Only the code before the fix needs this: its open blocked the event loop until a
    // writer came. This one comes after 10 s and leaves a mark first.
    const marker = join(dir, 'rescued');
    const rescue = spawn('sh', ['-c', `sleep 10; touch ${marker}; for f in ${fifos.join(' ')}; do timeout 1 sh -c ": > $f"; done`], { stdio: 'ignore' });
    children.push(rescue);
    for (const path of fifos) {
      const { session } = await vm(Buffer.alloc(0));
      const controller = new AbortController();
      const incoming = session.incoming(`file:${path}`, { signal: controller.signal });
      expect((await incoming.listening).uri).toBe(`file:${path}`);
      controller.abort();
      const error = await Promise.resolve(incoming).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ reason: 'CANCELLED', message: expect.stringContaining('during connect') });
      expect(existsSync(marker)).toBe(false);
      expect(session.destination.info.status).toBe('none');
    }
    // Had any aborted open kept its thread, this read would queue behind them until a writer came.
    const own = new URL(import.meta.url).pathname;
    expect((await readFile(own)).equals(readFileSync(own))).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });

  it('a FIFO that gets a writer is read as a file: the state loads', async () => {
    const snap = join(dir, 'vm.mig');
    const state = Buffer.alloc(200_000, 0x33);
    const src = await vm(state);
    await src.session.migrate(`file:${snap}`);
    const path = fifo('fed.fifo');
    const dst = await vm(Buffer.alloc(0));
    // The writer waits in its own open until the destination opens the FIFO for reading.
    children.push(spawn('sh', ['-c', `cat ${snap} > ${path}`], { stdio: 'ignore' }));
    const incoming = dst.session.incoming(`file:${path}`);
    expect((await incoming).status).toBe('completed');
    expect(dst.device.loaded?.equals(state)).toBe(true);
  });
});
