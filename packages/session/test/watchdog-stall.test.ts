/**
 * The transfer timeout after this process was stopped (SIGSTOP … SIGCONT) while the peer's
 * bytes waited in the socket buffer (issue 17 item 9): the time the process did not run is
 * not the peer's, so the read gets the bytes instead of a timeout blaming the peer.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import { SocketChannel } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { WatchdogChannel } from '../src/transport/watchdog-channel.js';

/** Blocks this thread (the event loop with it) for `ms`, as a SIGSTOP would. */
function freeze(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('the transfer timeout after the process was stopped', () => {
  it('does not blame the peer for bytes that sat in the socket buffer while this process did not run', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    const [peer] = (await accepted) as [net.Socket];
    const channel = new WatchdogChannel(new SocketChannel(client), 200, 'tcp:test');
    const into = new Uint8Array(16);
    const reading = Promise.resolve(channel.read(into));
    await new Promise((r) => setTimeout(r, 20)); // the read waits, its timer runs
    // "Stopped" while the bytes arrive, 4× the timeout — from the loop's check phase, so its
    // timers run before it polls the socket, as after a SIGCONT.
    setImmediate(() => {
      peer.write(Buffer.from('migration bytes!'));
      freeze(800);
    });
    await expect(reading).resolves.toBe(16);
    expect(Buffer.from(into).toString()).toBe('migration bytes!');
    expect(channel.timedOut).toBeUndefined();
    channel.shutdown();
    peer.destroy();
    server.close();
  });

  it('still times out a peer that sends nothing', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    const channel = new WatchdogChannel(new SocketChannel(client), 200, 'tcp:test');
    await expect(Promise.resolve(channel.read(new Uint8Array(4)))).rejects.toMatchObject({ phase: 'transfer' });
    server.close();
  });
});
