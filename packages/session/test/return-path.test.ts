import { once } from 'node:events';
import * as net from 'node:net';
import { SocketChannel } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { ReturnPathListener, sendShut, sendSwitchoverAck } from '../src/index.js';

async function socketPair(): Promise<{ source: net.Socket; destination: net.Socket; close: () => void }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const source = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(source, 'connect');
  const [destination] = await accepted;
  return { source, destination, close: () => (source.destroy(), destination.destroy(), server.close()) };
}

describe('the return path (QEMU message layout: be16 type, be16 length, payload)', () => {
  it('carries the switchover ACK and the destination verdict from SHUT, skipping unknown messages', async () => {
    const { source, destination, close } = await socketPair();
    const listener = new ReturnPathListener(new SocketChannel(source));
    const back = new SocketChannel(destination);
    expect(listener.isAcknowledged()).toBe(false);
    await back.writev([Buffer.from('0063000301020304', 'hex').subarray(0, 7)]); // type 0x63, 3 bytes: skipped
    await sendSwitchoverAck(back);
    const verdict = listener.destinationVerdict(5000);
    await sendShut(back, true);
    expect(await verdict).toBe('failed');
    expect(listener.isAcknowledged()).toBe(true);
    close();
  });

  it('SHUT with status 0 is a good load; no SHUT before the connection ends is no verdict', async () => {
    const a = await socketPair();
    const good = new ReturnPathListener(new SocketChannel(a.source));
    await sendShut(new SocketChannel(a.destination), false);
    expect(await good.destinationVerdict(5000)).toBe('loaded');
    a.close();
    const b = await socketPair();
    const silent = new ReturnPathListener(new SocketChannel(b.source));
    b.destination.end();
    expect(await silent.destinationVerdict(5000)).toBeUndefined();
    b.close();
  });

  it('the bytes on the wire are QEMU\'s', async () => {
    const written: Buffer[] = [];
    const sink = { writev: (chunks: readonly Uint8Array[]) => void written.push(...chunks.map((c) => Buffer.from(c))), close: async () => undefined, shutdown: () => undefined };
    await sendSwitchoverAck(sink);
    await sendShut(sink, true);
    expect(Buffer.concat(written).toString('hex')).toBe('00070000' + '0001000400000001');
  });
});
