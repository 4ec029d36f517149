/**
 * Every transport carries a whole migration stream from a source to a destination, byte
 * for byte: the stand-in device's state is loaded on the other side.
 */
import { mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MigrationBlockers, MigrationDestination, MigrationNotifiers, MigrationSource, MigrationStatus, RunStateController, SaveStateRegistry } from '@savevm/core';
import { TransportError, listenIncoming, openOutgoing, type IncomingTransportOptions, type OutgoingOptions } from '../src/index.js';
import { BlobDevice } from './helpers/blob-device.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-transport-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STATE = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7 + 3) & 0xff));

function source(): MigrationSource {
  const registry = new SaveStateRegistry();
  registry.register('blob', 0, 1, new BlobDevice(STATE));
  return new MigrationSource({ registry, runState: new RunStateController(), blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
}

function destination(): { destination: MigrationDestination; device: BlobDevice } {
  const registry = new SaveStateRegistry();
  const device = new BlobDevice(Buffer.alloc(0));
  registry.register('blob', 0, 1, device);
  return { destination: new MigrationDestination({ registry, runState: new RunStateController() }), device };
}

/** Listens on `incomingUri`, migrates to `outgoingUri`, loads; returns what was loaded. */
async function roundTrip(
  incomingUri: string,
  outgoingUri: (listening: { host: string; port: number } | undefined) => string,
  options: { incoming?: IncomingTransportOptions; outgoing?: OutgoingOptions } = {},
): Promise<Buffer | undefined> {
  const listener = await listenIncoming(incomingUri, options.incoming);
  const dst = destination();
  const loaded = (async () => {
    const transport = await listener.accept();
    try {
      return await dst.destination.load(transport.reader);
    } finally {
      await transport.close();
    }
  })();
  const out = await openOutgoing(outgoingUri(listener.listening), options.outgoing);
  try {
    const info = await source().migrate(out.writer);
    expect(info.status).toBe(MigrationStatus.COMPLETED);
  } finally {
    await out.close();
  }
  expect((await loaded).status).toBe(MigrationStatus.COMPLETED);
  await listener.close();
  return dst.device.loaded;
}

describe('transports: a whole stream, byte for byte', () => {
  it('tcp: on an ephemeral loopback port (the default bind address)', async () => {
    const listener = await listenIncoming('tcp::0');
    expect(listener.listening).toMatchObject({ kind: 'tcp', host: '127.0.0.1', loopbackOnly: true });
    await listener.close();
    const loaded = await roundTrip('tcp::0', (l) => `tcp:127.0.0.1:${l?.port}`);
    expect(loaded?.equals(STATE)).toBe(true);
  });

  it('tcp: over IPv6 loopback', async () => {
    const loaded = await roundTrip('tcp:[::1]:0', (l) => `tcp:[::1]:${l?.port}`);
    expect(loaded?.equals(STATE)).toBe(true);
  });

  it('tcp: --listen-address overrides the URI host', async () => {
    const listener = await listenIncoming('tcp:0.0.0.0:0', { listenAddress: '127.0.0.1' });
    expect(listener.listening?.host).toBe('127.0.0.1');
    await listener.close();
  });

  it('unix: and the socket file is removed afterwards', async () => {
    const path = join(dir, 'mig.sock');
    const loaded = await roundTrip(`unix:${path}`, () => `unix:${path}`);
    expect(loaded?.equals(STATE)).toBe(true);
    expect(() => statSync(path)).toThrow();
  });

  it('file: a snapshot written now and restored later', async () => {
    const path = join(dir, 'snapshot.mig');
    const out = await openOutgoing(`file:${path}`);
    await source().migrate(out.writer);
    await out.close();
    expect(readFileSync(path).subarray(0, 4).toString('hex')).toBe('5145564d'); // "QEVM"
    const loaded = await roundTrip(`file:${path}`, () => `file:${join(dir, 'again.mig')}`);
    expect(loaded?.equals(STATE)).toBe(true);
    expect(readFileSync(join(dir, 'again.mig')).equals(readFileSync(path))).toBe(true);
  });

  it('fd: descriptors this process holds', async () => {
    const path = join(dir, 'by-fd.mig');
    const out = await openOutgoing(`fd:${openSync(path, 'w')}`);
    await source().migrate(out.writer);
    await out.close();
    const listener = await listenIncoming(`fd:${openSync(path, 'r')}`);
    const transport = await listener.accept();
    const dst = destination();
    await dst.destination.load(transport.reader);
    await transport.close();
    expect(dst.device.loaded?.equals(STATE)).toBe(true);
  });

  it('exec: the source writes into a command, the destination reads from one', async () => {
    const path = join(dir, 'exec.mig.gz');
    const out = await openOutgoing(`exec:gzip -c > ${path}`);
    await source().migrate(out.writer);
    await out.close();
    const listener = await listenIncoming(`exec:gzip -dc ${path}`);
    const transport = await listener.accept();
    const dst = destination();
    await dst.destination.load(transport.reader);
    await transport.close();
    expect(dst.device.loaded?.equals(STATE)).toBe(true);
  });

  it('exec: a failing command is reported with its exit status', async () => {
    const listener = await listenIncoming('exec:echo nope >&2; exit 3');
    const transport = await listener.accept();
    const err = await destination().destination.load(transport.reader).catch((e: unknown) => e);
    expect(String(err)).toMatch(/the command exited with status 3/);
    await transport.close().catch(() => undefined);
  });
});

describe('transports: timeouts and refusals', () => {
  it('the source cannot connect: a clear connect error', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const err = await openOutgoing(`tcp:127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ phase: 'connect', code: 'ECONNREFUSED' });
  });

  it('a destination with nobody connecting gives up after its connect timeout', async () => {
    const listener = await listenIncoming('tcp::0', { connectTimeoutMs: 150 });
    const started = Date.now();
    const err = await listener.accept().catch((e: unknown) => e);
    expect(err).toMatchObject({ phase: 'connect', code: 'ETIMEDOUT' });
    expect(String(err)).toMatch(/no source connected to 127\.0\.0\.1:\d+ within 150 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('the destination stops sending bytes: the transfer timeout fails the reader', async () => {
    const listener = await listenIncoming('tcp::0', { transferTimeoutMs: 200 });
    const client = net.connect(listener.listening?.port ?? 0, '127.0.0.1');
    client.write(Buffer.from('QEVM')); // a header begins, then nothing
    const transport = await listener.accept();
    const started = Date.now();
    const err = await destination().destination.load(transport.reader).catch((e: unknown) => e);
    expect(String(err)).toMatch(/no bytes moved for 0\.\d s \(transfer timeout 200 ms\)/);
    expect(Date.now() - started).toBeLessThan(2000);
    client.destroy();
    await transport.close();
  });

  it('a peer that stops reading: the transfer timeout fails the source', async () => {
    const server = net.createServer((socket) => socket.pause()); // accepts, never reads
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const registry = new SaveStateRegistry();
    registry.register('big', 0, 1, new BlobDevice(Buffer.alloc(64 << 20)));
    const src = new MigrationSource({ registry, runState: new RunStateController(), blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
    const out = await openOutgoing(`tcp:127.0.0.1:${port}`, { transferTimeoutMs: 300 });
    const err = await src.migrate(out.writer, { maxBandwidth: 0 }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/transfer timeout 300 ms/);
    expect(err).toMatchObject({ reason: 'TIMEOUT' });
    expect(src.info.status).toBe(MigrationStatus.FAILED);
    await out.close().catch(() => undefined);
    server.close();
  });
});
