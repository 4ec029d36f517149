/**
 * The source never says "completed" without the destination's verdict (issue 17 items 5
 * and 6): a destination that takes every byte and dies before its verdict fails the
 * migration on every transport, and every failed source runs its VM again with the error
 * named — on tcp:/unix: the return path's SHUT is the verdict, on exec: the command's exit.
 * A migration with no verdict to wait for (returnPath: false on a socket, a pipe) is
 * refused before anything moves (docs/design/return-path.md).
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TransportError, createMigrationSession, type MigrationSession } from '../src/index.js';
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

/** A FIFO with both ends open without blocking: [read end, write end]. */
function openPipe(name: string): [number, number] {
  const path = join(dir, name);
  execFileSync('mkfifo', [path]);
  const readEnd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  return [readEnd, openSync(path, constants.O_WRONLY | constants.O_NONBLOCK)];
}

/** Whether a non-blocking read end has nothing to read. */
function isEmpty(readEnd: number): boolean {
  try {
    return readSync(readEnd, Buffer.alloc(1)) === 0;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EAGAIN';
  }
}

/** A running source with one small device (a pipe holds its whole stream). */
async function smallSource(): Promise<{ session: MigrationSession; device: BlobDevice }> {
  const session = await createMigrationSession();
  const device = new BlobDevice(Buffer.alloc(100, 0x42));
  session.registry.register('blob', 0, 1, device);
  await session.runState.start();
  return { session, device };
}

/** The refusal: INVALID_ARGUMENT in phase options, before any hook ran; the VM runs on. */
async function expectRefused(session: MigrationSession, device: BlobDevice, migrating: Promise<unknown>, words: RegExp): Promise<void> {
  const error = await migrating.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TransportError);
  expect(error).toMatchObject({ reason: 'INVALID_ARGUMENT', phase: 'options' });
  expect((error as Error).message).toMatch(words);
  expect(device.calls).toEqual([]);
  expect(session.source.info.status).toBe('none');
  expect(session.runState.isRunning).toBe(true);
}

describe('a migration that could end without a verdict is refused before anything moves (issue 17 item 5)', () => {
  it.each(['tcp', 'unix'] as const)('%s: with returnPath: false: INVALID_ARGUMENT, no connection made, the VM runs', async (scheme) => {
    let connections = 0;
    const path = join(dir, 'no-verdict.sock');
    const server = await diesAfterLastByte((s) => (scheme === 'tcp' ? s.listen(0, '127.0.0.1') : s.listen(path)));
    server.on('connection', () => connections++);
    const uri = scheme === 'tcp' ? `tcp:127.0.0.1:${(server.address() as net.AddressInfo).port}` : `unix:${path}`;
    const { session, device } = await smallSource();
    await expectRefused(session, device, session.migrate(uri, { returnPath: false }), /returnPath: false would end the migration without the destination's verdict/);
    server.close();
    expect(connections).toBe(0);
  });

  it('fd: on a pipe (no way back): INVALID_ARGUMENT naming exec: and sockets, nothing written, the VM runs', async () => {
    const [readEnd, writeEnd] = openPipe('fd.fifo');
    const { session, device } = await smallSource();
    await expectRefused(session, device, session.migrate(`fd:${writeEnd}`), /descriptor \d+ is a pipe: it has no way back.*exec:COMMAND/);
    expect(isEmpty(readEnd)).toBe(true);
    closeSync(readEnd);
    closeSync(writeEnd);
  });

  it('file: naming a FIFO: refused the same way', async () => {
    const [readEnd, writeEnd] = openPipe('file.fifo');
    closeSync(writeEnd);
    const { session, device } = await smallSource();
    await expectRefused(session, device, session.migrate(`file:${join(dir, 'file.fifo')}`), /the path is a pipe: it has no way back/);
    expect(isEmpty(readEnd)).toBe(true);
    closeSync(readEnd);
  });

  it('fd: on a regular file still completes: the file closing is the verdict', async () => {
    const path = join(dir, 'by-fd.mig');
    const { session } = await smallSource();
    expect((await session.migrate(`fd:${openSync(path, 'w')}`)).status).toBe('completed');
    expect(readFileSync(path).length).toBeGreaterThan(100);
  });
});

describe('a failed source resumes its devices and names the error', () => {
  it('exec: a command that exits 5 after the whole stream: FAILED, VM running, the error names the status', async () => {
    const { session, device } = await runningSource();
    await expectFailedAndRunning(session, device, session.migrate('exec:cat >/dev/null; exit 5'), /the command exited with status 5/);
  });
});
