/**
 * The harness itself: the skip policy, the QMP client, and that timeouts are failures
 * which still kill QEMU and remove its temp dir.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  FETCH_QEMU_10_SCRIPT,
  QmpCommandError,
  QmpTimeoutError,
  describeEachQemu,
  findQemus,
  knownQemus,
  liveQemuCount,
  loadStream,
  qemuCacheRoot,
  qemuTestPolicy,
  saveStream,
  versionOfRelease,
  withQemu,
  type QemuProcess,
} from './qemu-harness.js';
import { minimalStream } from './stream-builders.js';
import { missingQemuMessage } from './with-qemu.js';

describe('interop skip policy', () => {
  it('CI=true never skips: run with QEMU, fail without', () => {
    expect(qemuTestPolicy({ CI: 'true' }, '/usr/bin/qemu-system-x86_64')).toBe('run');
    expect(qemuTestPolicy({ CI: 'true' }, undefined)).toBe('fail');
    expect(qemuTestPolicy({ CI: '1' }, undefined)).toBe('fail');
  });

  it('outside CI, a missing QEMU skips with the way to get it: apt for 7.2, the fetch script for 10.0', () => {
    expect(qemuTestPolicy({}, undefined)).toBe('skip');
    expect(qemuTestPolicy({ CI: 'false' }, undefined)).toBe('skip');
    expect(qemuTestPolicy({}, '/usr/bin/qemu-system-x86_64')).toBe('run');
    expect(missingQemuMessage()).toContain('apt-get install qemu-system-x86');
    expect(missingQemuMessage('10.0')).toBe(`qemu-system-x86_64 10.0 not found; get it with: node ${FETCH_QEMU_10_SCRIPT}`);
    expect(existsSync(fileURLToPath(new URL(`../../${FETCH_QEMU_10_SCRIPT}`, import.meta.url)))).toBe(true);
  });
});

describe('finding the QEMUs', () => {
  const script = fileURLToPath(new URL(`../../${FETCH_QEMU_10_SCRIPT}`, import.meta.url));

  it('the fetch script and the harness agree on the cache root ($SAVEVM_QEMU_CACHE, $XDG_CACHE_HOME, ~/.cache)', () => {
    for (const env of [{ SAVEVM_QEMU_CACHE: '/x/y' }, { XDG_CACHE_HOME: '/c' }, {}]) {
      const full = { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
      const printed = execFileSync(process.execPath, [script, '--print-cache-root'], { encoding: 'utf8', env: full }).trim();
      expect(printed).toBe(qemuCacheRoot(full));
    }
    expect(qemuCacheRoot({ SAVEVM_QEMU_CACHE: '/x/y' })).toBe('/x/y');
    expect(qemuCacheRoot({ XDG_CACHE_HOME: '/c' })).toBe('/c/savevm');
  });

  it('a release names its version slot; unknown ones have none', () => {
    expect(versionOfRelease('7.2.22')).toBe('7.2');
    expect(versionOfRelease('10.0.2')).toBe('10.0');
    expect(versionOfRelease('9.2.0')).toBeUndefined();
  });

  const q72 = knownQemus().get('7.2');
  const q10 = knownQemus().get('10.0');

  it('an empty PATH and cache find nothing', () => {
    const cache = mkdtempSync(join(tmpdir(), 'savevm-qemu-cache-'));
    try {
      expect(findQemus({ PATH: '', SAVEVM_QEMU_CACHE: cache }).size).toBe(0);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  // Without the QEMUs these skip; the per-version suites below fail under CI then.
  it.skipIf(q10 === undefined)('a cache holding a qemu-10.0.x is found in the 10.0 slot', () => {
    const real = q10 as NonNullable<typeof q10>;
    const cache = mkdtempSync(join(tmpdir(), 'savevm-qemu-cache-'));
    try {
      // The cached tree (bin/, root/) under another version's name.
      symlinkSync(dirname(dirname(real.path)), join(cache, 'qemu-10.0.99'));
      const found = findQemus({ PATH: '', SAVEVM_QEMU_CACHE: cache });
      expect([...found.keys()]).toEqual(['10.0']);
      expect(found.get('10.0')?.path).toBe(join(cache, 'qemu-10.0.99', 'bin', 'qemu-system-x86_64'));
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it.skipIf(q72 === undefined || q10 === undefined)('$SAVEVM_QEMU takes the slot of the version it reports, ahead of PATH and the cache', () => {
    const found = findQemus({ PATH: process.env.PATH, HOME: process.env.HOME, SAVEVM_QEMU_CACHE: qemuCacheRoot(), SAVEVM_QEMU: q10?.path });
    expect(found.get('10.0')?.path).toBe(q10?.path);
    expect(found.get('7.2')?.path).toBe(q72?.path);
    expect(found.get('10.0')?.release).toMatch(/^10\.0\.\d+$/);
    expect(found.get('7.2')?.release).toMatch(/^7\.2\.\d+$/);
  });
});

describeEachQemu((v) => `QEMU harness [QEMU ${v}]`, (facts) => {
  it('the binary is the version the suite is for', () => {
    expect(knownQemus().get(facts.version)?.release.startsWith(`${facts.version}.`)).toBe(true);
  });

  it('QMP: status, command errors and events', async () => {
    await withQemu({ machine: 'none', qemu: facts.version }, async (q) => {
      const qmp = await q.qmp();
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch', running: false });
      await expect(qmp.execute('no-such-command')).rejects.toBeInstanceOf(QmpCommandError);
      await qmp.execute('cont');
      expect((await qmp.waitForEvent('RESUME', 5000)).event).toBe('RESUME');
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'running' });
    });
    expect(liveQemuCount()).toBe(0);
  });

  it('a failing body still kills QEMU and removes its temp dir', async () => {
    let started: QemuProcess | undefined;
    const failing = withQemu({ machine: 'none', qemu: facts.version }, async (q) => {
      started = q;
      await q.qmp();
      throw new Error('boom');
    });
    await expect(failing).rejects.toThrow('boom');
    expect(started?.exited).toBeDefined();
    expect(existsSync(started?.dir ?? '/')).toBe(false);
    expect(liveQemuCount()).toBe(0);
  });

  it('a hang is a failure: per-call timeouts reject and clean up', async () => {
    await expect(loadStream(await minimalStream('none'), { machine: 'none', timeoutMs: 1, qemu: facts.version })).rejects.toBeInstanceOf(QmpTimeoutError);
    await expect(saveStream({ machine: 'none', timeoutMs: 1, qemu: facts.version })).rejects.toBeInstanceOf(QmpTimeoutError);
    expect(liveQemuCount()).toBe(0);
  });

  it('refuses a 0-byte incoming stream (QEMU would sit in inmigrate forever)', async () => {
    await expect(loadStream(new Uint8Array(0), { machine: 'none', qemu: facts.version })).rejects.toBeInstanceOf(RangeError);
    expect(liveQemuCount()).toBe(0);
  });
});
