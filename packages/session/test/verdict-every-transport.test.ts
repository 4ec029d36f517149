/**
 * The source never says "completed" without the destination's verdict (issue 17 items 5
 * and 6): a destination that takes every byte and dies before its verdict fails the
 * migration on every transport, and every failed source runs its VM again with the error
 * named — on tcp:/unix: the return path's SHUT is the verdict, on exec: the command's exit.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMigrationSession, type MigrationSession } from '../src/index.js';
import { BlobDevice } from './helpers/blob-device.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-verdict-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runningSource(): Promise<{ session: MigrationSession; device: BlobDevice }> {
  const session = await createMigrationSession();
  const device = new BlobDevice(Buffer.alloc(300_000, 0x42));
  session.registry.register('blob', 0, 1, device);
  await session.runState.start();
  return { session, device };
}

/** A destination that reads the whole stream, then dies (closes without SHUT). */
async function diesAfterLastByte(listen: (server: net.Server) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let idle: NodeJS.Timeout | undefined;
    socket.on('data', () => {
      clearTimeout(idle);
      idle = setTimeout(() => socket.destroy(), 300);
    });
    socket.on('error', () => undefined);
  });
  listen(server);
  await once(server, 'listening');
  return server;
}

async function expectFailedAndRunning(session: MigrationSession, device: BlobDevice, migrating: Promise<unknown>, words: RegExp): Promise<void> {
  const error = await migrating.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).toMatch(words);
  expect(session.source.info.status).toBe('failed');
  expect(session.source.info.errorDescription).toMatch(words);
  expect(session.runState.isRunning).toBe(true);
  expect(device.calls).toContain('saveCleanup');
}

describe('the destination dies after the last byte, before its verdict', () => {
  it('tcp: FAILED (DESTINATION_FAILED), the VM runs again', async () => {
    const server = await diesAfterLastByte((s) => s.listen(0, '127.0.0.1'));
    const { session, device } = await runningSource();
    const { port } = server.address() as net.AddressInfo;
    await expectFailedAndRunning(session, device, session.migrate(`tcp:127.0.0.1:${port}`), /the destination did not say how its load ended/);
    server.close();
  });

  it('unix: FAILED (DESTINATION_FAILED), the VM runs again', async () => {
    const path = join(dir, 'dies.sock');
    const server = await diesAfterLastByte((s) => s.listen(path));
    const { session, device } = await runningSource();
    await expectFailedAndRunning(session, device, session.migrate(`unix:${path}`), /the destination did not say how its load ended/);
    server.close();
  });

  it('exec: a command killed after it read everything: FAILED, the VM runs again', async () => {
    const { session, device } = await runningSource();
    await expectFailedAndRunning(session, device, session.migrate('exec:cat >/dev/null; kill -9 $$'), /the command was killed by SIGKILL/);
  });
});

describe('a failed source resumes its devices and names the error', () => {
  it('exec: a command that exits 5 after the whole stream: FAILED, VM running, the error names the status', async () => {
    const { session, device } = await runningSource();
    await expectFailedAndRunning(session, device, session.migrate('exec:cat >/dev/null; exit 5'), /the command exited with status 5/);
  });
});
