/**
 * `savevm migrate` / `savevm incoming` end to end, in-process (no terminal: JSON lines):
 * TCP with TLS, unix, file snapshots, exec; the byte check catching a mismatch; one-line
 * errors naming the phase; usage errors.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, summaryOf } from './helpers/run-cli.js';

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'savevm-cli-'));
const certs = join(dir, 'certs');
beforeAll(() => {
  execFileSync('sh', [join(here, '../scripts/make-test-certs.sh'), certs]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tls = (name: string): string[] => ['--tls-cert', join(certs, `${name}.pem`), '--tls-key', join(certs, `${name}.key`), '--tls-ca', join(certs, 'ca.pem')];
// Two devices: both with p2p, as QEMU 8.2's multi-device rule asks (docs/embedding-in-a-vmm.md §3).
const DEVICES = ['--device', 'emulated:nic0,size=1M,flags=stop-copy|p2p|pre-copy,dirty-rate=256K,seed=7', '--device', 'emulated:gpu0,size=512K,seed=42'];

describe('savevm migrate / incoming', () => {
  it('over TCP with TLS: the destination checks every device byte against the source', async () => {
    const destination = runCli(['incoming', 'tcp::0', ...tls('destination'), '--timeout', '10s', ...DEVICES]);
    const listening = await destination.waitFor('listening');
    expect(listening).toMatchObject({ host: '127.0.0.1', loopbackOnly: true, tls: true });
    const source = runCli(['migrate', `tcp:127.0.0.1:${listening.port}`, ...tls('source'), '--avail-switchover-bandwidth', '1G', ...DEVICES]);
    expect(await source.code).toBe(0);
    expect(await destination.code).toBe(0);
    const sent = summaryOf(source);
    const got = summaryOf(destination);
    expect(sent.status).toBe('completed');
    expect(got.status).toBe('completed');
    for (const device of sent.devices) {
      const loaded = got.devices.find((d) => d.idstr === device.idstr);
      expect(loaded?.sha256).toBe(device.sha256);
      expect(loaded?.verified).toBe(true);
      expect(loaded?.deviceState).toBe('RUNNING');
      expect(device.intact).toBe(true);
    }
    expect(source.records().filter((r) => r.event === 'progress').length).toBeGreaterThan(1);
    expect(destination.records().find((r) => r.event === 'connected')?.transport).toMatch(/TLS, source certificate CN=savevm-source/);
  });

  it('refuses a source whose certificate another CA signed; the source fails in phase tls', async () => {
    const destination = runCli(['incoming', 'tcp::0', ...tls('destination'), '--connect-timeout', '2s', ...DEVICES]);
    const { port } = await destination.waitFor('listening');
    const rogue = runCli(['migrate', `tcp:127.0.0.1:${port}`, '--tls-cert', join(certs, 'rogue.pem'), '--tls-key', join(certs, 'rogue.key'), '--tls-ca', join(certs, 'ca.pem'), ...DEVICES]);
    expect(await rogue.code).toBe(1);
    expect(rogue.stderr()).toMatch(/^savevm migrate: FAILED \(transport tcp:127\.0\.0\.1:\d+, phase tls\): the destination refused this side's certificate/);
    expect(rogue.stderr().trim().split('\n')).toHaveLength(1);
    expect(await destination.code).toBe(1);
    expect(destination.stderr()).toMatch(/refused 127\.0\.0\.1:\d+ before any device state \(phase tls\): certificate not accepted/);
    expect(destination.stderr()).toMatch(/no source connected .* within 2000 ms/);
  });

  it('with --switchover-ack on both sides: the source switches over only after the destination acknowledged', async () => {
    const destination = runCli(['incoming', 'tcp::0', '--switchover-ack', '--timeout', '10s', ...DEVICES]);
    const { port } = await destination.waitFor('listening');
    const source = runCli(['migrate', `tcp:127.0.0.1:${port}`, '--switchover-ack', ...DEVICES]);
    expect(await source.code).toBe(0);
    expect(await destination.code).toBe(0);
    expect(summaryOf(destination).devices.every((d) => d.verified === true)).toBe(true);
    expect(summaryOf(source).status).toBe('completed');
  });

  it('--switchover-ack on the source only: the destination refuses the DEV_INIT_DATA_SENT it did not expect; a file has no return path', async () => {
    const destination = runCli(['incoming', 'tcp::0', '--timeout', '10s', ...DEVICES]);
    const { port } = await destination.waitFor('listening');
    const source = runCli(['migrate', `tcp:127.0.0.1:${port}`, '--switchover-ack', ...DEVICES]);
    expect(await destination.code).toBe(1);
    expect(destination.stderr()).toMatch(/FAILED \(device emulated:nic0, phase load-state\): vfio device nic0: DEV_INIT_DATA_SENT while switchover-ack is off/);
    expect(await source.code).toBe(1);
    const noReturnPath = runCli(['migrate', `file:${join(dir, 'ack.mig')}`, '--switchover-ack', ...DEVICES]);
    expect(await noReturnPath.code).toBe(2);
    expect(noReturnPath.stderr()).toMatch(/--switchover-ack needs a return path/);
    expect(() => readFileSync(join(dir, 'ack.mig'))).toThrow(/ENOENT/); // refused before anything was created
  });

  it('a destination that reports (SHUT on the return path) that its load failed: the source fails and runs its VM again', async () => {
    // A stand-in destination: takes the whole stream, then answers MIG_RP_MSG_SHUT with status 1.
    const server = net.createServer((socket) => {
      let idle: NodeJS.Timeout | undefined;
      socket.on('data', () => {
        clearTimeout(idle);
        idle = setTimeout(() => socket.write(Buffer.from('00010004' + '00000001', 'hex')), 300);
      });
      socket.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const source = runCli(['migrate', `tcp:127.0.0.1:${port}`, ...DEVICES]);
    expect(await source.code).toBe(1);
    expect(source.stderr()).toMatch(/^savevm migrate: FAILED \(phase destination-verdict\): the destination failed to load the state \(SHUT 1\); the VM and its devices run here again$/m);
    expect(source.stderr().trim().split('\n')).toHaveLength(1);
    // The VM runs here again: every device RUNNING with its state intact.
    for (const device of summaryOf(source).devices) {
      expect(device.deviceState).toBe('RUNNING');
      expect(device.intact).toBe(true);
    }
    server.close();
  });

  it('over a unix socket', async () => {
    const path = join(dir, 'm.sock');
    const destination = runCli(['incoming', `unix:${path}`, ...DEVICES]);
    await destination.waitFor('listening');
    const source = runCli(['migrate', `unix:${path}`, '--avail-switchover-bandwidth', '1G', ...DEVICES]);
    expect(await source.code).toBe(0);
    expect(await destination.code).toBe(0);
    expect(summaryOf(destination).devices.every((d) => d.verified === true)).toBe(true);
  });

  it('JSON lines: a vfio-migration line at each device state change, on both sides, in the order QEMU sends VFIO_MIGRATION', async () => {
    const path = join(dir, 'events.sock');
    const destination = runCli(['incoming', `unix:${path}`, ...DEVICES]);
    await destination.waitFor('listening');
    const source = runCli(['migrate', `unix:${path}`, '--avail-switchover-bandwidth', '1G', ...DEVICES]);
    expect(await source.code).toBe(0);
    expect(await destination.code).toBe(0);
    const states = (run: typeof source, device: string): unknown[] =>
      run.records().filter((r) => r.event === 'vfio-migration' && r.device === device).map((r) => r.state);
    const line = source.records().find((r) => r.event === 'vfio-migration');
    expect(Object.keys(line ?? {})).toEqual(['event', 'device', 'idstr', 'state']);
    // The VM starts (P2P: through running-p2p), pre-copies nic0, stops (P2P first), then stop-copy and cleanup.
    expect(states(source, 'emulated:nic0')).toEqual(['running-p2p', 'running', 'pre-copy', 'pre-copy-p2p', 'stop-copy', 'stop']);
    expect(states(source, 'emulated:gpu0')).toEqual(['running-p2p', 'running', 'running-p2p', 'stop', 'stop-copy', 'stop']);
    // The destination loads (resuming; stop once the kernel took the state) and starts the VM.
    for (const device of ['emulated:nic0', 'emulated:gpu0']) {
      expect(states(destination, device)).toEqual(['resuming', 'stop', 'running-p2p', 'running']);
    }
  });

  it('snapshot and restore through a file, the source paused', async () => {
    const path = join(dir, 'snap.mig');
    const save = runCli(['migrate', `file:${path}`, '--paused', ...DEVICES]);
    expect(await save.code).toBe(0);
    expect(summaryOf(save).devices.map((d) => d.pagesDirtied)).toEqual([0, 0]); // paused: the workload did not run
    const restore = runCli(['incoming', `file:${path}`, ...DEVICES]);
    expect(await restore.code).toBe(0);
    expect(summaryOf(restore).devices.map((d) => d.sha256)).toEqual(summaryOf(save).devices.map((d) => d.sha256));
    // `savevm inspect` reads the snapshot, the state check section included.
    const inspect = runCli(['inspect', path]);
    expect(await inspect.code).toBe(0);
    expect(inspect.stdout()).toMatch(/savevm-migrator\/state-check/);
  });

  it('a snapshot whose device bytes were altered is caught by the byte check', async () => {
    const path = join(dir, 'altered.mig');
    const save = runCli(['migrate', `file:${path}`, '--paused', '--device', 'emulated:a,size=64K,seed=5']);
    expect(await save.code).toBe(0);
    // Change the source's recorded digest inside the stream (the device data still loads).
    const digest = Buffer.from(String(summaryOf(save).devices[0]?.sha256), 'hex');
    const bytes = readFileSync(path);
    const at = bytes.indexOf(digest);
    expect(at).toBeGreaterThan(0);
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(path, bytes);
    const restore = runCli(['incoming', `file:${path}`, '--device', 'emulated:a,size=64K,seed=5']);
    expect(await restore.code).toBe(1);
    expect(restore.stderr()).toMatch(/^savevm incoming: FAILED \(phase load-verify\): the loaded state was refused: device state check failed: device emulated:a: loaded bytes \(sha256 [0-9a-f]{16}…\) differ from the source's/);
  });

  it('through exec: commands', async () => {
    const path = join(dir, 'exec.mig.gz');
    const save = runCli(['migrate', `exec:gzip -c > ${path}`, '--paused', ...DEVICES]);
    expect(await save.code).toBe(0);
    const restore = runCli(['incoming', `exec:gzip -dc ${path}`, ...DEVICES]);
    expect(await restore.code).toBe(0);
    expect(summaryOf(restore).devices.every((d) => d.verified === true)).toBe(true);
  });

  it('names the transport and the phase in one line: unknown scheme, nobody listening', async () => {
    const unknown = runCli(['migrate', 'rdma:host:1', ...DEVICES]);
    expect(await unknown.code).toBe(1);
    expect(unknown.stderr()).toBe('savevm migrate: FAILED (transport rdma:host:1, phase uri): unknown transport "rdma"; use one of tcp:, unix:, file:, fd:, exec:\n');
    expect(unknown.records().find((r) => r.event === 'error')).toMatchObject({ phase: 'uri', reason: 'INVALID_ARGUMENT' });
    const refused = runCli(['migrate', 'tcp:127.0.0.1:1', ...DEVICES]);
    expect(await refused.code).toBe(1);
    expect(refused.stderr()).toMatch(/^savevm migrate: FAILED \(transport tcp:127\.0\.0\.1:1, phase connect\): cannot connect: connect ECONNREFUSED/);
    expect(refused.records().find((r) => r.event === 'error')).toMatchObject({ phase: 'connect', reason: 'CONNECT_FAILED' });
  });

  it("two devices, one without p2p: migrate is refused with QEMU 8.2's blocker naming it, before anything is written; the escape lets it through", async () => {
    const mixed = ['--device', 'emulated:a,size=64K,flags=stop-copy|pre-copy,seed=3', '--device', 'emulated:b,size=64K,seed=4'];
    const path = join(dir, 'mixed.mig');
    const refused = runCli(['migrate', `file:${path}`, '--paused', ...mixed]);
    expect(await refused.code).toBe(1);
    expect(refused.stderr()).toBe(
      'savevm migrate: FAILED (phase blocked): migration is blocked: vfio: Multiple VFIO devices migration is supported only if all of them support P2P migration (without P2P: emulated:a,size=64K,flags=stop-copy|pre-copy,seed=3)\n',
    );
    expect(refused.records().find((r) => r.event === 'error')).toMatchObject({ phase: 'blocked', reason: 'BLOCKED' });
    expect(refused.records().some((r) => r.event === 'connected')).toBe(false);
    expect(existsSync(path)).toBe(false);
    const save = runCli(['migrate', `file:${path}`, '--paused', '--allow-multi-device-without-p2p', ...mixed]);
    expect(await save.code).toBe(0);
    // The destination has no rule to pass: blockers stop only outgoing migrations.
    const restore = runCli(['incoming', `file:${path}`, ...mixed]);
    expect(await restore.code).toBe(0);
    expect(summaryOf(restore).devices.every((d) => d.verified === true)).toBe(true);
  });

  it('names the device and the phase when a device cannot be set up', async () => {
    const run = runCli(['migrate', 'file:/dev/null', '--device', 'vfio:/sys/bus/pci/devices/0000:ff:1f.7']);
    expect(await run.code).toBe(1);
    expect(run.stderr()).toMatch(/^savevm migrate: FAILED \(device vfio:\/sys\/bus\/pci\/devices\/0000:ff:1f\.7, phase open\): /);
  });

  it('usage errors exit 2', async () => {
    for (const args of [['migrate'], ['migrate', 'tcp:h:1'], ['incoming', 'tcp::0', '--device', 'emulated:a', '--tls-cert', 'x'], ['migrate', 'tcp:h:1', '--device', 'emulated:a', '--bogus']]) {
      const run = runCli(args);
      expect(await run.code).toBe(2);
      expect(run.stderr()).toMatch(/run "savevm --help"/);
    }
  });
});
