/**
 * A destination that refuses the stream while the source is still writing it and hangs up
 * without SHUT, as a QEMU 7.2 destination does: the source's writes fail with EPIPE or
 * ECONNRESET, and with a return path the source blames the destination (DESTINATION_FAILED),
 * not the connection. (A savevm destination's SHUT 1 with its words: session-api.test.ts.)
 */
import { once } from 'node:events';
import * as net from 'node:net';
import { MigrationError } from '@savevm/core';
import { describe, expect, it } from 'vitest';
import { createMigrationSession, type MigrationSession } from '../src/index.js';
import { BlobDevice } from './helpers/blob-device.js';

/** More than the socket buffers of both ends hold, so the source is still writing when the destination hangs up. */
const BIG = 32 * 1024 * 1024;

/** A running source whose one device, `big`, holds {@link BIG} bytes. */
async function runningSource(): Promise<{ session: MigrationSession; device: BlobDevice }> {
  const session = await createMigrationSession();
  const device = new BlobDevice(Buffer.alloc(BIG, 0x5a));
  session.registry.register('big', 0, 1, device);
  await session.runState.start();
  return { session, device };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('the destination hangs up while the source writes', () => {
  it('as QEMU 7.2 does on a refused stream (no SHUT, just close): DESTINATION_FAILED, VM running, state intact', async () => {
    const server = net.createServer((socket) => {
      // Read the first bytes, then give up on the stream as QEMU does: close without a word.
      socket.once('data', () => socket.destroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    const { session, device } = await runningSource();
    const error = await rejectionOf(session.migrate(`tcp:127.0.0.1:${port}`));
    server.close();
    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ reason: 'DESTINATION_FAILED', message: expect.stringContaining('the destination did not say how its load ended') });
    expect(session.source.info.status).toBe('failed');
    expect(session.runState.isRunning).toBe(true);
    expect(device.state.equals(Buffer.alloc(BIG, 0x5a))).toBe(true);
    expect(device.calls).toContain('saveCleanup');
  });

  it('without a return path (exec:) the hang-up stays a connection failure (nothing to ask the destination)', async () => {
    // A socket without its return path is refused (verdict-every-transport.test.ts).
    const { session } = await runningSource();
    const error = await rejectionOf(session.migrate('exec:head -c 1000 >/dev/null'));
    expect(error).toMatchObject({ reason: 'CONNECT_FAILED' });
    expect(session.runState.isRunning).toBe(true);
  });
});
