/**
 * An `exec:` destination whose source command exits non-zero after sending the whole
 * stream (issue 17 item 9): the load completed, and the exit status is a warning in
 * `MigrationInfo.warnings`, not a failure — with the vmdesc after EOF or without it (QEMU
 * ignores what happens there). A command whose stream ends early still fails the load,
 * naming its status (docs/design/return-path.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MigrationInfo } from '@savevm/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createMigrationSession, type MigrationSession } from '../src/index.js';
import { BlobDevice } from './helpers/blob-device.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-exec-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STATE = Buffer.alloc(50_000, 0x17);

async function vm(state: Buffer): Promise<{ session: MigrationSession; device: BlobDevice }> {
  const session = await createMigrationSession();
  const device = new BlobDevice(state);
  session.registry.register('blob', 0, 1, device);
  return { session, device };
}

/** A snapshot of {@link STATE} in a file, with or without the vmdesc after EOF. */
async function snapshot(name: string, sendVmdesc: boolean): Promise<string> {
  const path = join(dir, name);
  const src = await vm(STATE);
  await src.session.migrate(`file:${path}`, { sendVmdesc });
  return path;
}

describe('an exec: source command that exits non-zero after the whole stream', () => {
  it.each([
    ['with the vmdesc', true],
    ['without the vmdesc (the destination reads to the end of the pipe)', false],
  ])('%s: completed, the state loaded, one warning names the exit status', async (_what, sendVmdesc) => {
    const path = await snapshot(`exit3-${String(sendVmdesc)}.mig`, sendVmdesc);
    const dst = await vm(Buffer.alloc(0));
    const infos: MigrationInfo[] = [];
    const sub = dst.session.destination.info$.subscribe((i) => infos.push(i));
    const info = await dst.session.incoming(`exec:cat ${path}; exit 3`);
    sub.unsubscribe();
    expect(info.status).toBe('completed');
    expect(dst.device.loaded?.equals(STATE)).toBe(true);
    expect(info.errorDescription).toBeUndefined();
    const exitWarnings = info.warnings.filter((w) => w.includes('the source command exited with status 3 after sending the whole stream'));
    expect(exitWarnings).toHaveLength(1);
    // The terminal info pushed on info$ is the one returned.
    expect(infos.at(-1)?.warnings).toEqual(info.warnings);
  });

  it('exit 0: completed without a warning', async () => {
    const path = await snapshot('exit0.mig', true);
    const dst = await vm(Buffer.alloc(0));
    const info = await dst.session.incoming(`exec:cat ${path}`);
    expect(info.status).toBe('completed');
    expect(info.warnings).toEqual([]);
  });

  it('a stream that ends early still fails the load, naming the exit status', async () => {
    const path = await snapshot('cut.mig', true);
    const dst = await vm(Buffer.alloc(0));
    const err = await Promise.resolve(dst.session.incoming(`exec:head -c 20000 ${path}; exit 4`)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/the command exited with status 4/);
    expect(dst.session.destination.info.status).toBe('failed');
  });
});
