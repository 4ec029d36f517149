/**
 * TLS with mutual authentication: both sides verify each other against the CA; a peer with
 * a certificate from another CA, or none, is refused before a byte of device state is
 * loaded. Certificates are made at test time by examples/migrator/scripts/make-test-certs.sh
 * (openssl).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrationBlockers, MigrationDestination, MigrationNotifiers, MigrationSource, RunStateController, SaveStateRegistry, type SaveVMHandlers } from '@savevm/core';
import { TransportError, listenIncoming, loadTlsCredentials, openOutgoing, type TlsCredentials } from '../src/index.js';
import { BlobDevice } from './helpers/blob-device.js';

const makeCerts = join(dirname(fileURLToPath(import.meta.url)), '../../../examples/migrator/scripts/make-test-certs.sh');
const dir = mkdtempSync(join(tmpdir(), 'savevm-tls-'));
let ca: Buffer;
let destination: TlsCredentials;
let source: TlsCredentials;
let rogue: TlsCredentials;

beforeAll(() => {
  execFileSync('sh', [makeCerts, dir]);
  ca = readFileSync(join(dir, 'ca.pem'));
  const creds = (name: string, caFile = 'ca.pem'): TlsCredentials =>
    loadTlsCredentials({ certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`), caFile: join(dir, caFile) });
  destination = creds('destination');
  source = creds('source');
  rogue = creds('rogue', 'ca.pem'); // trusts our CA, but its own certificate is from another CA
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STATE = Buffer.alloc(100_000, 0x5a);

function sourceWith(handlers: SaveVMHandlers): MigrationSource {
  const registry = new SaveStateRegistry();
  registry.register('blob', 0, 1, handlers);
  return new MigrationSource({ registry, runState: new RunStateController(), blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
}

/** A destination device that records whether any loader hook ever ran. */
function watchedDestination(): { destination: MigrationDestination; device: BlobDevice } {
  const registry = new SaveStateRegistry();
  const device = new BlobDevice(Buffer.alloc(0));
  registry.register('blob', 0, 1, device);
  return { destination: new MigrationDestination({ registry, runState: new RunStateController() }), device };
}

describe('TLS with mutual authentication', () => {
  it('migrates when both certificates verify, and each side knows who the other is', async () => {
    const refused: string[] = [];
    const listener = await listenIncoming('tcp::0', { tls: destination, onPeerRefused: (_a, why) => refused.push(why) });
    expect(listener.tls).toBe(true);
    const dst = watchedDestination();
    const loading = listener.accept().then(async (t) => {
      const info = await dst.destination.load(t.reader);
      await t.close();
      return { info, peer: t.peer };
    });
    const out = await openOutgoing(`tcp:127.0.0.1:${listener.listening?.port}`, { tls: source });
    expect(out.peer?.subject).toBe('savevm-destination');
    expect(out.description).toMatch(/TLS, destination certificate CN=savevm-destination/);
    await sourceWith(new BlobDevice(STATE)).migrate(out.writer);
    await out.close();
    const { peer } = await loading;
    expect(peer?.subject).toBe('savevm-source');
    expect(peer?.issuer).toBe('savevm test CA');
    expect(dst.device.loaded?.equals(STATE)).toBe(true);
    expect(refused).toEqual([]);
  });

  it('refuses a source whose certificate comes from another CA, before loading anything; then takes the right one', async () => {
    const refused: string[] = [];
    const listener = await listenIncoming('tcp::0', { tls: destination, onPeerRefused: (a, why) => refused.push(`${a}: ${why}`) });
    const dst = watchedDestination();
    const loading = listener.accept().then(async (t) => {
      await dst.destination.load(t.reader);
      await t.close();
    });
    const uri = `tcp:127.0.0.1:${listener.listening?.port}`;
    const err = await openOutgoing(uri, { tls: rogue }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ phase: 'tls', reason: 'TLS_REFUSED' });
    expect(String(err)).toMatch(/the destination refused this side's certificate/);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(/^127\.0\.0\.1:\d+: certificate not accepted: UNABLE_TO_VERIFY_LEAF_SIGNATURE$/);
    expect(dst.device.calls).toEqual([]); // not a single hook ran

    const out = await openOutgoing(uri, { tls: source });
    await sourceWith(new BlobDevice(STATE)).migrate(out.writer);
    await out.close();
    await loading;
    expect(dst.device.loaded?.equals(STATE)).toBe(true);
  });

  it('refuses a plain-TCP source that sends a stream without TLS', async () => {
    const refused: string[] = [];
    const listener = await listenIncoming('tcp::0', { tls: destination, onPeerRefused: (_a, why) => refused.push(why) });
    const dst = watchedDestination();
    let accepted = false;
    void listener.accept().then(() => (accepted = true), () => undefined);
    const out = await openOutgoing(`tcp:127.0.0.1:${listener.listening?.port}`);
    await sourceWith(new BlobDevice(STATE)).migrate(out.writer).catch(() => undefined);
    await out.close().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    expect(accepted).toBe(false);
    expect(refused.length).toBeGreaterThan(0);
    expect(dst.device.calls).toEqual([]);
    await listener.close();
  });

  it('a source refuses a destination whose certificate comes from another CA', async () => {
    const listener = await listenIncoming('tcp::0', { tls: rogue });
    void listener.accept().catch(() => undefined);
    const err = await openOutgoing(`tcp:127.0.0.1:${listener.listening?.port}`, { tls: source }).catch((e: unknown) => e);
    expect(err).toMatchObject({ phase: 'tls', reason: 'TLS_REFUSED' });
    expect(String(err)).toMatch(/handshake failed: .*(certificate|issuer)/i);
    await listener.close();
  });

  it('a source refuses a destination whose certificate does not name the address it dialled', async () => {
    const listener = await listenIncoming('tcp::0', { tls: destination });
    void listener.accept().catch(() => undefined);
    const err = await openOutgoing(`tcp:127.0.0.1:${listener.listening?.port}`, { tls: source, tlsServerName: 'elsewhere.example' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ phase: 'tls' });
    expect(String(err)).toMatch(/elsewhere\.example/);
    await listener.close();
  });

  it('a TLS source against a server that never answers times out in the handshake', async () => {
    const server = net.createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const err = await openOutgoing(`tcp:127.0.0.1:${port}`, { tls: source, connectTimeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ phase: 'connect', code: 'ETIMEDOUT' });
    server.close();
  });

  it('reads credentials from files and names a missing one', () => {
    expect(() => loadTlsCredentials({ certFile: join(dir, 'nope.pem'), keyFile: '', caFile: '' })).toThrow(/cannot read the TLS certificate .*nope\.pem/);
    expect(ca.toString()).toMatch(/BEGIN CERTIFICATE/);
  });
});
