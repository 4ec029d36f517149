/**
 * Two hosts: a destination and a source in two network namespaces joined by a veth pair,
 * migrating over TCP with TLS (mutual authentication). Then the link is cut in the middle of
 * a migration: the source fails within its transfer timeout with its devices running and
 * their bytes intact, and the destination exits non-zero with a clear message. A source
 * whose certificate another CA signed is refused. Needs root and iproute2 (skipped
 * otherwise, except under CI=true); namespaces are removed on every path.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TwoHosts, canMakeNamespaces, makeTwoHosts } from './network-namespaces.js';
import { savevmIn } from './savevm-process.js';

const capable = canMakeNamespaces();
if (!capable.ok && process.env.CI === 'true') throw new Error(`two-hosts tests must run under CI: ${capable.why}`);

const makeCerts = join(dirname(fileURLToPath(import.meta.url)), '../../examples/migrator/scripts/make-test-certs.sh');

describe.skipIf(!capable.ok)(`two hosts in network namespaces${capable.ok ? '' : ` (skipped: ${capable.why})`}`, () => {
  let hosts: TwoHosts;
  let certs: string;
  const exitHandler = (): void => hosts?.remove();

  beforeAll(() => {
    hosts = makeTwoHosts();
    process.once('exit', exitHandler);
    certs = mkdtempSync(join(tmpdir(), 'savevm-2h-'));
    execFileSync('sh', [makeCerts, certs, `IP:${hosts.destinationAddress}`]);
  });
  afterAll(() => {
    hosts?.remove();
    process.off('exit', exitHandler);
    rmSync(certs, { recursive: true, force: true });
  });

  const tls = (name: string, ca = 'ca.pem'): string[] => ['--tls-cert', join(certs, `${name}.pem`), '--tls-key', join(certs, `${name}.key`), '--tls-ca', join(certs, ca)];

  it('migrates over TCP with TLS between the namespaces; the device bytes match', async () => {
    const devices = ['--device', 'emulated:nic0,size=1M,flags=stop-copy|p2p|pre-copy,dirty-rate=256K,seed=3', '--device', 'emulated:gpu0,size=2M,seed=4'];
    const uri = `tcp:${hosts.destinationAddress}:4444`;
    const destination = savevmIn(hosts.destinationNs, ['incoming', uri, ...tls('destination'), '--timeout', '5s', ...devices]);
    const listening = await destination.waitFor((r) => r.event === 'listening');
    expect(listening).toMatchObject({ host: hosts.destinationAddress, loopbackOnly: false, tls: true });
    const source = savevmIn(hosts.sourceNs, ['migrate', uri, ...tls('source'), '--timeout', '5s', '--avail-switchover-bandwidth', '1G', ...devices]);
    expect((await source.exited).code).toBe(0);
    expect((await destination.exited).code).toBe(0);
    const sent = source.summary();
    const got = destination.summary();
    expect(got.devices.map((d) => d.sha256)).toEqual(sent.devices.map((d) => d.sha256));
    expect(got.devices.every((d) => d.verified === true && d.deviceState === 'RUNNING')).toBe(true);
    expect(String(destination.records().find((r) => r.event === 'connected')?.transport)).toContain(`from ${hosts.sourceAddress}:`);
  });

  it('refuses a source whose certificate another CA signed', async () => {
    const devices = ['--device', 'emulated:a,size=64K'];
    const uri = `tcp:${hosts.destinationAddress}:4445`;
    const destination = savevmIn(hosts.destinationNs, ['incoming', uri, ...tls('destination'), '--connect-timeout', '3s', ...devices]);
    await destination.waitFor((r) => r.event === 'listening');
    const rogue = savevmIn(hosts.sourceNs, ['migrate', uri, ...tls('rogue'), ...devices]);
    expect((await rogue.exited).code).toBe(1);
    expect(rogue.stderr()).toMatch(/phase tls\): the destination refused this side's certificate/);
    expect((await destination.exited).code).toBe(1);
    expect(destination.stderr()).toMatch(new RegExp(`refused ${hosts.sourceAddress.replace(/\./g, '\\.')}:\\d+ before any device state \\(phase tls\\): certificate not accepted`));
  });

  it('cut link: the source fails within its timeout, devices running and intact; the destination exits non-zero', async () => {
    const devices = ['--device', 'emulated:nic0,size=8M,flags=stop-copy|p2p|pre-copy,dirty-rate=512K,seed=9'];
    const uri = `tcp:${hosts.destinationAddress}:4446`;
    const timeout = ['--timeout', '2s'];
    const destination = savevmIn(hosts.destinationNs, ['incoming', uri, ...tls('destination'), ...timeout, ...devices]);
    await destination.waitFor((r) => r.event === 'listening');
    const source = savevmIn(hosts.sourceNs, ['migrate', uri, ...tls('source'), ...timeout, '--max-bandwidth', '2M', ...devices]);
    await source.waitFor((r) => r.event === 'progress' && Number(r.transferredBytes) > 1_000_000);
    const cutAt = Date.now();
    hosts.cutLink();
    const sourceEnd = await source.exited;
    const failedAfterMs = Date.now() - cutAt;
    expect(sourceEnd.code).toBe(1);
    expect(failedAfterMs).toBeLessThan(2000 + 3000);
    const summary = source.summary();
    expect(summary.status).toBe('failed');
    expect(summary.devices[0]).toMatchObject({ deviceState: 'RUNNING', intact: true });
    expect(source.stderr()).toMatch(/^savevm migrate: FAILED \(.*phase [a-z-]+.*\): .*no bytes moved for \d+\.\d s \(transfer timeout 2 s\)/);
    const destinationEnd = await destination.exited;
    expect(destinationEnd.code).toBe(1);
    expect(destination.stderr()).toMatch(/^savevm incoming: FAILED \(.*\): .*no bytes moved for \d+\.\d s \(transfer timeout 2 s\)/m);
  });
});
