/**
 * TLS mismatches in clear words, one line each, phase `tls`, on both sides (issue 17 item 9):
 * a plaintext source against a TLS destination (which drops it without a word), and a
 * destination whose certificate is for clients only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransportError, createMigrationSession, loadTlsCredentials, type MigrationSession, type TlsCredentials } from '../src/index.js';
import { BlobDevice } from './helpers/blob-device.js';

const makeCerts = join(dirname(fileURLToPath(import.meta.url)), '../../../examples/migrator/scripts/make-test-certs.sh');
const dir = mkdtempSync(join(tmpdir(), 'savevm-tls-words-'));
const creds = (name: string): TlsCredentials =>
  loadTlsCredentials({ certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`), caFile: join(dir, 'ca.pem') });
beforeAll(() => void execFileSync('sh', [makeCerts, dir]));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runningSource(): Promise<{ session: MigrationSession; device: BlobDevice }> {
  const session = await createMigrationSession();
  const device = new BlobDevice(Buffer.alloc(200_000, 0x11));
  session.registry.register('blob', 0, 1, device);
  await session.runState.start();
  return { session, device };
}

/** A TLS destination on a free port; collects its refusals. */
async function tlsDestination(certName: string): Promise<{ port: number; refusals: string[]; stop: () => Promise<unknown> }> {
  const dst = await createMigrationSession();
  dst.registry.register('blob', 0, 1, new BlobDevice(Buffer.alloc(0)));
  const refusals: string[] = [];
  const incoming = dst.incoming('tcp:127.0.0.1:0', { tls: creds(certName), connectTimeoutMs: 3000, onPeerRefused: (_a, reason) => void refusals.push(reason) });
  const { address } = await incoming.listening;
  return { port: address?.port ?? 0, refusals, stop: () => Promise.resolve(incoming).catch((e: unknown) => e) };
}

describe('TLS mismatches', () => {
  it('a plaintext source against a TLS destination: phase tls on the source, one line on each side; the VM runs', async () => {
    const destination = await tlsDestination('destination');
    const { session, device } = await runningSource();
    const error = await session.migrate(`tcp:127.0.0.1:${destination.port}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ phase: 'tls', reason: 'TLS_REFUSED' });
    expect((error as Error).message).toMatch(/the destination hung up without answering anything: it expects TLS and this side connected without it/);
    expect((error as Error).message).not.toMatch(/\n/);
    expect(session.runState.isRunning).toBe(true);
    expect(device.calls).toContain('saveCleanup');
    await destination.stop();
    expect(destination.refusals[0]).toBe('the source did not start a TLS handshake: it connected without TLS (a source without --tls-*?)');
    expect(destination.refusals.every((r) => !r.includes('\n'))).toBe(true);
  });

  it('a destination whose certificate is for TLS clients only: phase tls (not connect), in words', async () => {
    const destination = await tlsDestination('client-only');
    const { session } = await runningSource();
    const error = await session.migrate(`tcp:127.0.0.1:${destination.port}`, { tls: creds('source') }).catch((e: unknown) => e);
    expect(error).toMatchObject({ phase: 'tls', reason: 'TLS_REFUSED' });
    expect((error as Error).message).toMatch(/the destination was refused: its certificate is not for a TLS server \(its extended key usage lacks serverAuth\) \(unsuitable certificate purpose\)$/);
    expect(session.runState.isRunning).toBe(true);
    await destination.stop();
    expect(destination.refusals.every((r) => !r.includes('\n'))).toBe(true);
  });
});
