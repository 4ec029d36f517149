/**
 * QEMU's return path as savevm speaks it: the bytes of each message, the commands a source
 * sends after the configuration, and what the source concludes from every way a destination
 * can end (SHUT 0, SHUT 1, silence, a closed path, a message QEMU would reject).
 */
import { once } from 'node:events';
import * as net from 'node:net';
import {
  type DestinationReturnPath,
  MigrationDestination,
  MigrationError,
  RunStateController,
  SaveStateRegistry,
} from '@savevm/core';
import { MemoryReadChannel, QemuFileReader, QemuFileWriter, SocketChannel, type WriteChannel } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { ReturnPathReader, ReturnPathWriter, createMigrationSession } from '../src/index.js';
import { BlobDevice } from './helpers/blob-device.js';

async function socketPair(): Promise<{ source: net.Socket; destination: net.Socket; close: () => void }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const source = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(source, 'connect');
  const [destination] = await accepted;
  server.close();
  return { source, destination, close: () => (source.destroy(), destination.destroy()) };
}

function recordingChannel(): { channel: WriteChannel; bytes: () => string } {
  const written: Buffer[] = [];
  return {
    channel: { writev: (chunks) => void written.push(...chunks.map((c) => Buffer.from(c))), close: async () => undefined, shutdown: () => undefined },
    bytes: () => Buffer.concat(written).toString('hex'),
  };
}

describe('the messages, byte for byte (be16 type, be16 length, payload)', () => {
  it('PONG echoes the PING value, SWITCHOVER_ACK is empty, SHUT carries 0 or 1', async () => {
    const rec = recordingChannel();
    const w = new ReturnPathWriter(rec.channel);
    expect(w.open()).toBe(true);
    w.pong(1);
    w.switchoverAck();
    await w.shut(undefined);
    expect(rec.bytes()).toBe('0002000400000001' + '00070000' + '0001000400000000');
  });

  it('a failed load sends SHUT 1; the error text goes first only to a source that asked for it', async () => {
    const qemuLike = recordingChannel();
    const a = new ReturnPathWriter(qemuLike.channel);
    a.open();
    a.pong(1);
    await a.shut(new Error('boom'));
    expect(qemuLike.bytes()).toBe('0002000400000001' + '0001000400000001');
    const savevm = recordingChannel();
    const b = new ReturnPathWriter(savevm.channel);
    b.open();
    b.pong(0x73766d31);
    await b.shut(new Error('boom'));
    expect(savevm.bytes()).toBe('0002000473766d31' + '73760004' + Buffer.from('boom').toString('hex') + '0001000400000001');
  });

  it('a path that was never opened sends nothing', async () => {
    const rec = recordingChannel();
    await new ReturnPathWriter(rec.channel).shut(new Error('x'));
    expect(rec.bytes()).toBe('');
  });
});

describe('the source reading the return path', () => {
  async function verdictAfter(bytes: string, end = true): Promise<unknown> {
    const { source, destination, close } = await socketPair();
    const reader = new ReturnPathReader(new SocketChannel(source));
    destination.write(Buffer.from(bytes, 'hex'));
    if (end) destination.end();
    const v = await reader.waitForVerdict(2000);
    close();
    return v;
  }

  it('SHUT 0 is loaded; PONGs and the ACK on the way are taken in', async () => {
    const { source, destination, close } = await socketPair();
    const reader = new ReturnPathReader(new SocketChannel(source));
    destination.write(Buffer.from('0002000400000001' + '00070000' + '0001000400000000', 'hex'));
    expect(await reader.waitForVerdict(2000)).toEqual({ kind: 'loaded' });
    expect(reader.pongs).toEqual([1]);
    expect(reader.isAcknowledged()).toBe(true);
    expect(reader.earlyVerdict()).toBeUndefined();
    close();
  });

  it('SHUT 1 is a failure, with the words that came before it', async () => {
    expect(await verdictAfter('0001000400000001')).toEqual({ kind: 'failed', status: 1, words: undefined });
    expect(await verdictAfter('73760002' + Buffer.from('no').toString('hex') + '0001000400000001')).toEqual({ kind: 'failed', status: 1, words: 'no' });
  });

  it('a path that ends without SHUT, or inside a message, is closed', async () => {
    expect(await verdictAfter('0002000400000001')).toMatchObject({ kind: 'closed' });
    expect(await verdictAfter('00010004000000')).toMatchObject({ kind: 'closed' });
  });

  it('messages a QEMU source rejects: type 0, a type past MAX, a fixed length that is wrong, a payload over 512 bytes, a postcopy request', async () => {
    expect(await verdictAfter('00000000', false)).toMatchObject({ kind: 'invalid' });
    expect(await verdictAfter('00080000', false)).toMatchObject({ kind: 'invalid' });
    expect(await verdictAfter('000100020000', false)).toMatchObject({ kind: 'invalid', detail: expect.stringContaining('SHUT') });
    expect(await verdictAfter('0005020100', false)).toMatchObject({ kind: 'invalid' });
    expect(await verdictAfter('0004000c' + '00'.repeat(12), false)).toMatchObject({ kind: 'invalid', detail: expect.stringContaining('precopy only') });
  });

  it('silence is a timeout', async () => {
    const { source, close } = await socketPair();
    const reader = new ReturnPathReader(new SocketChannel(source));
    expect(await reader.waitForVerdict(50)).toEqual({ kind: 'timeout', waitedMs: 50 });
    close();
  });
});

/** A destination driver on `socket` whose return path does what `script` says at the end. */
async function scriptedDestination(socket: net.Socket, script: 'silent' | 'close' | 'garbage' | 'shut1'): Promise<void> {
  const registry = new SaveStateRegistry();
  registry.register('blob', 0, 1, new BlobDevice(Buffer.alloc(0)));
  const destination = new MigrationDestination({ registry, runState: new RunStateController() });
  const back = new SocketChannel(socket);
  const real = new ReturnPathWriter(back);
  const rp: DestinationReturnPath = {
    get isOpen() {
      return real.isOpen;
    },
    open: () => real.open(),
    pong: (v) => real.pong(v),
    switchoverAck: () => real.switchoverAck(),
    shut: async () => {
      if (script === 'close') socket.end();
      if (script === 'garbage') socket.write(Buffer.from('00630000', 'hex'));
      if (script === 'shut1') socket.write(Buffer.from('0001000400000001', 'hex'));
    },
  };
  await destination.load(new QemuFileReader(back), { returnPath: rp });
}

describe('the source completes only on SHUT 0', () => {
  for (const [script, expected] of [
    ['silent', 'did not say how its load ended within 300 ms'],
    ['close', 'did not say how its load ended'],
    ['garbage', 'the return path is broken'],
    ['shut1', 'SHUT 1'],
  ] as const) {
    it(`${script}: failed, reason DESTINATION_FAILED, VM running again`, async () => {
      const { source, destination, close } = await socketPair();
      const session = await createMigrationSession();
      const device = new BlobDevice(Buffer.alloc(100, 7));
      session.registry.register('blob', 0, 1, device);
      await session.runState.start();
      const loaded = scriptedDestination(destination, script);
      const error = await session.source
        .migrate(new QemuFileWriter(new SocketChannel(source)), {
          returnPath: new ReturnPathReader(new SocketChannel(source)),
          verdictTimeoutMs: 300,
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      await loaded;
      close();
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as MigrationError).reason).toBe('DESTINATION_FAILED');
      expect((error as MigrationError).message).toContain(expected);
      expect(session.runState.isRunning).toBe(true);
      expect(device.calls).toContain('saveCleanup');
    });
  }
});

describe('the source asks for the return path right after the configuration', () => {
  it('OPEN_RETURN_PATH, PING 1, then savevm\'s PING (QEMU answers it with a PONG and nothing else)', async () => {
    const { source, destination, close } = await socketPair();
    const session = await createMigrationSession();
    session.registry.register('blob', 0, 1, new BlobDevice(Buffer.alloc(4, 1)));
    const chunks: Buffer[] = [];
    destination.on('data', (c: Buffer) => {
      chunks.push(c);
      // Answer as a QEMU destination would once it has the whole stream: PONGs, then SHUT 0.
      if (Buffer.concat(chunks).includes(Buffer.from('"page_size"'))) {
        destination.write(Buffer.from('0002000400000001' + '0002000473766d31' + '0001000400000000', 'hex'));
      }
    });
    const info = await session.source.migrate(new QemuFileWriter(new SocketChannel(source)), { returnPath: new ReturnPathReader(new SocketChannel(source)) });
    expect(info.status).toBe('completed');
    const stream = Buffer.concat(chunks).toString('hex');
    const header = '5145564d' + '00000003' + '07' + '00000004' + Buffer.from('none').toString('hex');
    expect(stream.startsWith(header)).toBe(true);
    expect(stream.slice(header.length)).toMatch(/^0800010000080002000400000001080002000473766d31/);
    close();
  });
});

describe('the destination', () => {
  it('a stream that opens a return path on a transport with no way back fails, as QEMU does', async () => {
    const registry = new SaveStateRegistry();
    const destination = new MigrationDestination({ registry, runState: new RunStateController() });
    const stream = Buffer.from('5145564d00000003' + '080001' + '0000' + '00', 'hex');
    await expect(destination.load(new QemuFileReader(new MemoryReadChannel(stream)), { requireConfiguration: false })).rejects.toMatchObject({
      phase: 'return-path',
      message: expect.stringContaining('no way back'),
    });
  });

  it('a PING before OPEN_RETURN_PATH fails ("received with no return path")', async () => {
    const registry = new SaveStateRegistry();
    const destination = new MigrationDestination({ registry, runState: new RunStateController() });
    const rec = recordingChannel();
    const stream = Buffer.from('5145564d00000003' + '080002000400000001' + '00', 'hex');
    await expect(
      destination.load(new QemuFileReader(new MemoryReadChannel(stream)), { requireConfiguration: false, returnPath: new ReturnPathWriter(rec.channel) }),
    ).rejects.toMatchObject({ message: expect.stringContaining('PING received with no return path') });
  });

  it('answers PINGs with PONGs and ends with SHUT 0 after a good load', async () => {
    const registry = new SaveStateRegistry();
    const destination = new MigrationDestination({ registry, runState: new RunStateController() });
    const rec = recordingChannel();
    const stream = Buffer.from('5145564d00000003' + '080001' + '0000' + '080002000400000007' + '00', 'hex');
    await destination.load(new QemuFileReader(new MemoryReadChannel(stream)), { requireConfiguration: false, returnPath: new ReturnPathWriter(rec.channel) });
    expect(rec.bytes()).toBe('0002000400000007' + '0001000400000000');
  });
});
