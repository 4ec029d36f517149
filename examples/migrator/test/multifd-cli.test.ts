/**
 * `--multifd-channels N` on both sides (docs/design/multifd.md): RAM and device state on N
 * more connections, per-channel bytes and throughput in the progress lines and the summary,
 * a mismatch named by both sides with the source's VM running again, and the usage errors.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, summaryOf } from './helpers/run-cli.js';

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'savevm-multifd-cli-'));
const certs = join(dir, 'certs');
beforeAll(() => {
  execFileSync('sh', [join(here, '../scripts/make-test-certs.sh'), certs]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tls = (name: string): string[] => ['--tls-cert', join(certs, `${name}.pem`), '--tls-key', join(certs, `${name}.key`), '--tls-ca', join(certs, 'ca.pem')];
const DEVICES = ['--device', 'emulated:nic0,size=2M,flags=stop-copy|p2p|pre-copy,dirty-rate=256K,seed=7', '--device', 'emulated:gpu0,size=4M,seed=42'];
const UUID = '5f1c6a4e-2b1d-4c8e-9a3b-0d2e4f6a8b1c';

interface ChannelBytes {
  channel: number;
  bytes: number;
}

function channelsOf(summary: Record<string, unknown>): ChannelBytes[] {
  return (summary.channels ?? []) as ChannelBytes[];
}

describe('savevm migrate / incoming --multifd-channels', () => {
  it('TCP with TLS, 4 channels, a 10.0 stream: RAM and device state on the channels, every byte checked', async () => {
    const vm = [...DEVICES, '--multifd-channels', '4', '--uuid', UUID];
    const destination = runCli(['incoming', 'tcp::0', ...tls('destination'), '--timeout', '20s', ...vm, '--memory', '16M,seed=11']);
    const { port } = await destination.waitFor('listening');
    const source = runCli(['migrate', `tcp:127.0.0.1:${port}`, ...tls('source'), '--compat', '10.0', ...vm, '--memory', '16M,dirty-rate=2M,seed=3']);
    expect(await source.code).toBe(0);
    expect(await destination.code).toBe(0);
    const sent = summaryOf(source);
    const got = summaryOf(destination);
    expect(got.devices.every((d) => d.verified === true)).toBe(true);
    for (const summary of [sent, got]) {
      const channels = channelsOf(summary);
      expect(channels.map((c) => c.channel)).toEqual([0, 1, 2, 3]);
      // Every channel carried pages or device buffers, and the main connection still carried the sections.
      for (const c of channels) expect(c.bytes).toBeGreaterThan(64 * 1024);
      const onChannels = channels.reduce((n, c) => n + c.bytes, 0);
      expect(onChannels).toBeLessThan(Number(summary.transferredBytes));
    }
    // The 6 MiB of device state and most of the 16 MiB of RAM went over the channels.
    expect(channelsOf(sent).reduce((n, c) => n + c.bytes, 0)).toBeGreaterThan(16 * 1024 * 1024);
    expect(source.stdout()).toContain('"channels":[{"channel":0,');
    // Progress lines carry each channel's bytes and throughput.
    const progress = source.records().filter((r) => r.event === 'progress' && Array.isArray(r.channels));
    expect(progress.length).toBeGreaterThan(0);
    const last = progress.at(-1)?.channels as Array<Record<string, unknown>>;
    expect(last.map((c) => Object.keys(c).sort())).toEqual(Array(4).fill(['bytes', 'channel', 'mbps']));
  });

  it('a unix socket, 2 channels, a 7.2 stream (RAM on the channels, device state on the main connection)', async () => {
    const path = join(dir, 'm.sock');
    const destination = runCli(['incoming', `unix:${path}`, '--timeout', '20s', ...DEVICES, '--multifd-channels', '2', '--memory', '8M,seed=1']);
    await destination.waitFor('listening');
    const source = runCli(['migrate', `unix:${path}`, ...DEVICES, '--multifd-channels', '2', '--memory', '8M,dirty-rate=1M,seed=2']);
    expect(await source.code).toBe(0);
    expect(await destination.code).toBe(0);
    expect(summaryOf(destination).devices.every((d) => d.verified === true)).toBe(true);
    const channels = channelsOf(summaryOf(source));
    expect(channels).toHaveLength(2);
    // 8 MiB of seeded RAM: pages on both channels.
    expect(channels.reduce((n, c) => n + c.bytes, 0)).toBeGreaterThan(8 * 1024 * 1024);
  });

  it('a source with 2 channels, a destination expecting 3: both fail naming the channels, the source VM runs again', async () => {
    const destination = runCli(['incoming', 'tcp::0', '--timeout', '5s', ...DEVICES, '--multifd-channels', '3']);
    const { port } = await destination.waitFor('listening');
    const source = runCli(['migrate', `tcp:127.0.0.1:${port}`, '--timeout', '5s', ...DEVICES, '--multifd-channels', '2']);
    expect(await destination.code).toBe(1);
    expect(await source.code).toBe(1);
    expect(destination.stderr()).toMatch(/phase multifd\b.*channel 2/);
    expect(source.stderr().trim().split('\n')).toHaveLength(1);
    for (const device of summaryOf(source).devices) {
      expect(device.deviceState).toBe('RUNNING');
      expect(device.intact).toBe(true);
    }
  });

  it('another uuid on the source: the destination refuses its channels in QEMU words', async () => {
    const destination = runCli(['incoming', 'tcp::0', '--timeout', '5s', ...DEVICES, '--multifd-channels', '2', '--uuid', UUID]);
    const { port } = await destination.waitFor('listening');
    const source = runCli(['migrate', `tcp:127.0.0.1:${port}`, '--timeout', '5s', ...DEVICES, '--multifd-channels', '2']);
    expect(await destination.code).toBe(1);
    expect(await source.code).toBe(1);
    expect(destination.stderr()).toMatch(/uuid/i);
    expect(summaryOf(source).devices.every((d) => d.deviceState === 'RUNNING')).toBe(true);
  });

  it.each([
    [['migrate', `file:${join(dir, 'x.mig')}`, '--multifd-channels', '2'], /--multifd-channels opens more connections: use tcp: or unix:, not file:/],
    [['incoming', 'exec:cat', '--multifd-channels', '2'], /--multifd-channels opens more connections: use tcp: or unix:, not exec:cat/],
    [['migrate', 'tcp:127.0.0.1:1', '--multifd-channels', '0'], /--multifd-channels takes 1 to 255 \(got 0\)/],
    [['incoming', 'tcp::0', '--multifd-channels', '256'], /--multifd-channels takes 1 to 255 \(got 256\)/],
    [['incoming', 'tcp::0', '--multifd-channels', 'four'], /--multifd-channels: "four" is not a whole number/],
    [['migrate', 'tcp:127.0.0.1:1', '--multifd-channels', '2', '--uuid', 'not-a-uuid'], /--uuid takes a uuid like .* \(got not-a-uuid\)/],
    [['migrate', 'tcp:127.0.0.1:1', '--uuid', UUID], /--uuid is announced on multifd channels: give --multifd-channels too/],
  ])('usage error: %j', async (args, message) => {
    const run = runCli([...args, '--device', 'emulated:a,size=4K']);
    expect(await run.code).toBe(2);
    expect(run.stderr()).toMatch(message);
  });
});
