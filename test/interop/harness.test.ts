/**
 * The harness itself: the skip policy, the QMP client, and that timeouts are failures
 * which still kill QEMU and remove its temp dir.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  QmpCommandError,
  QmpTimeoutError,
  describeWithQemu,
  liveQemuCount,
  loadStream,
  qemuTestPolicy,
  saveStream,
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

  it('outside CI, a missing QEMU skips with the install command', () => {
    expect(qemuTestPolicy({}, undefined)).toBe('skip');
    expect(qemuTestPolicy({ CI: 'false' }, undefined)).toBe('skip');
    expect(qemuTestPolicy({}, '/usr/bin/qemu-system-x86_64')).toBe('run');
    expect(missingQemuMessage()).toContain('apt-get install qemu-system-x86');
  });
});

describeWithQemu('QEMU harness', () => {
  it('QMP: status, command errors and events', async () => {
    await withQemu({ machine: 'none' }, async (q) => {
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
    const failing = withQemu({ machine: 'none' }, async (q) => {
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
    await expect(loadStream(await minimalStream('none'), { machine: 'none', timeoutMs: 1 })).rejects.toBeInstanceOf(QmpTimeoutError);
    await expect(saveStream({ machine: 'none', timeoutMs: 1 })).rejects.toBeInstanceOf(QmpTimeoutError);
    expect(liveQemuCount()).toBe(0);
  });

  it('refuses a 0-byte incoming stream (QEMU would sit in inmigrate forever)', async () => {
    await expect(loadStream(new Uint8Array(0), { machine: 'none' })).rejects.toBeInstanceOf(RangeError);
    expect(liveQemuCount()).toBe(0);
  });
});
