/**
 * `--memory`: guest RAM migrated by `savevm migrate` / `savevm incoming`, in-process (JSON
 * lines): live over unix: and tcp: while a guest dirties it, with devices, as a paused
 * snapshot; the destination's check catching a wrong digest; a size mismatch refused by the
 * RAM loader with the block's name; usage errors.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMemorySpec } from '../src/args/memory-spec.js';
import { type CliRun, runCli, summaryOf } from './helpers/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;
/** 8 MiB at 16 MiB/s is half a second a pass, while the guest dirties 512 pages a second. */
const LIVE = ['--max-bandwidth', '16M'];

type Device = Record<string, unknown>;

function ramOf(run: CliRun): Device {
  const ram = summaryOf(run).devices.find((d) => d.device === 'ram');
  if (ram === undefined) throw new Error(`no ram in the summary; stderr: ${run.stderr()}`);
  return ram;
}

/** Runs a destination on `uri` (tcp: port 0 is replaced by the real one) and a source against it. */
async function migrate(uri: string, destination: readonly string[], source: readonly string[]): Promise<{ src: CliRun; dst: CliRun }> {
  const dst = runCli(['incoming', uri, '--timeout', '20s', ...destination]);
  const listening = await dst.waitFor('listening');
  const target = uri.startsWith('tcp:') ? `tcp:127.0.0.1:${String(listening.port)}` : uri;
  const src = runCli(['migrate', target, ...source]);
  return { src, dst };
}

/** The source sent the RAM while the guest wrote to it, and the destination verified the bytes. */
function expectLiveRamVerified(src: CliRun, dst: CliRun): void {
  const sent = ramOf(src);
  const got = ramOf(dst);
  expect(summaryOf(src).status).toBe('completed');
  expect(sent).toMatchObject({ idstr: 'ram', size: 8 * MiB, provider: '@savevm/ram', intact: true, deviceState: 'POSTMIGRATE' });
  expect(sent.pagesDirtied).toBeGreaterThan(0);
  // Each page once is 2048 records of 8 + 4096 bytes; a dirtied page sent again adds 4104 more.
  expect(sent.bytes).toBeGreaterThan(2048 * 4104 + 4096);
  expect(summaryOf(src).iterations).toBeGreaterThan(1);
  expect(got).toMatchObject({ idstr: 'ram', size: 8 * MiB, verified: true, deviceState: 'RUNNING' });
  expect(got.sha256).toBe(sent.sha256);
}

describe('savevm migrate / incoming --memory', () => {
  it('RAM only, live over unix: while the guest dirties it; the destination (another seed) gets every byte', async () => {
    const path = join(dir, 'ram.sock');
    // The destination's RAM starts from another seed: only a full transfer makes it equal.
    const { src, dst } = await migrate(`unix:${path}`, ['--memory', '8M,seed=99'], ['--memory', '8M,dirty-rate=2M,seed=3', ...LIVE]);
    expect(await src.code).toBe(0);
    expect(await dst.code).toBe(0);
    expectLiveRamVerified(src, dst);
    // The progress names the RAM like a device.
    const progress = src.records().filter((r) => r.event === 'progress' && r.status === 'active');
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)?.devices).toEqual([{ device: 'ram', bytes: expect.any(Number) as number }]);
  });

  it('RAM only, live over tcp: while the guest dirties it', async () => {
    const { src, dst } = await migrate('tcp:127.0.0.1:0', ['--memory', '8M'], ['--memory', '8M,dirty-rate=2M,seed=4', ...LIVE]);
    expect(await src.code).toBe(0);
    expect(await dst.code).toBe(0);
    expectLiveRamVerified(src, dst);
  });

  it('RAM and emulated devices together, every one verified', async () => {
    const devices = ['--device', 'emulated:nic0,size=1M,flags=stop-copy|p2p|pre-copy,dirty-rate=256K,seed=7', '--device', 'emulated:gpu0,size=512K,seed=42'];
    const { src, dst } = await migrate('tcp:127.0.0.1:0', [...devices, '--memory', '8M'], [...devices, '--memory', '8M,dirty-rate=2M,seed=5', ...LIVE]);
    expect(await src.code).toBe(0);
    expect(await dst.code).toBe(0);
    expectLiveRamVerified(src, dst);
    const got = summaryOf(dst).devices;
    expect(got.map((d) => d.device)).toEqual([devices[1], devices[3], 'ram']);
    expect(got.every((d) => d.verified === true)).toBe(true);
  });

  it('a paused snapshot to file: and its restore; the guest did not run', async () => {
    const path = join(dir, 'ram.mig');
    const save = runCli(['migrate', `file:${path}`, '--paused', '--memory', '4M,dirty-rate=8M,seed=6']);
    expect(await save.code).toBe(0);
    expect(ramOf(save)).toMatchObject({ pagesDirtied: 0, intact: true, deviceState: 'POSTMIGRATE' });
    const restore = runCli(['incoming', `file:${path}`, '--memory', '4M,seed=1']);
    expect(await restore.code).toBe(0);
    expect(ramOf(restore)).toMatchObject({ verified: true, sha256: ramOf(save).sha256, deviceState: 'RUNNING' });
    // `savevm inspect` shows the ram section and the check.
    const inspect = runCli(['inspect', path]);
    expect(await inspect.code).toBe(0);
    expect(inspect.stdout()).toMatch(/START id=\d+ +idstr='ram' .*\n +ram: 1 blocks/);
    expect(inspect.stdout()).toMatch(/savevm-migrator\/state-check/);
  });

  it('a snapshot whose recorded RAM digest was altered fails the load before the VM starts', async () => {
    const path = join(dir, 'altered-ram.mig');
    const save = runCli(['migrate', `file:${path}`, '--paused', '--memory', '64K,seed=8']);
    expect(await save.code).toBe(0);
    const digest = Buffer.from(String(ramOf(save).sha256), 'hex');
    const bytes = readFileSync(path);
    const at = bytes.lastIndexOf(digest);
    expect(at).toBeGreaterThan(64 * 1024);
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(path, bytes);
    const restore = runCli(['incoming', `file:${path}`, '--memory', '64K,seed=8']);
    expect(await restore.code).toBe(1);
    expect(restore.stderr()).toMatch(
      /^savevm incoming: FAILED \(phase load-verify\): the loaded state was refused: device state check failed: device ram: loaded bytes \(sha256 [0-9a-f]{16}…\) differ from the source's/,
    );
    expect(ramOf(restore)).toMatchObject({ verified: false });
  });

  it('a destination with a smaller --memory refuses the block list naming the block; the source fails DESTINATION_FAILED and runs on', async () => {
    const path = join(dir, 'mismatch.sock');
    const { src, dst } = await migrate(`unix:${path}`, ['--memory', '4M'], ['--memory', '8M,dirty-rate=1M']);
    expect(await dst.code).toBe(1);
    expect(dst.stderr()).toMatch(
      /^savevm incoming: FAILED \(device ram, phase load-state, hook loadState, section \d+, byte \d+\): Size mismatch: ram: 0x800000 != 0x400000: Invalid argument\n$/,
    );
    expect(dst.records().find((r) => r.event === 'error')).toMatchObject({ device: 'ram', phase: 'load-state', reason: 'BAD_STREAM' });
    expect(await src.code).toBe(1);
    expect(src.stderr().trim().split('\n')).toHaveLength(1);
    expect(src.records().find((r) => r.event === 'error')).toMatchObject({ reason: 'DESTINATION_FAILED' });
    // The VM runs here again, its RAM as the seed and the guest's writes make it.
    expect(ramOf(src)).toMatchObject({ deviceState: 'RUNNING', intact: true });
  });

  it('a destination with --memory whose source sent no RAM fails the check', async () => {
    const device = ['--device', 'emulated:a,size=64K'];
    const { src, dst } = await migrate(`unix:${join(dir, 'noram.sock')}`, [...device, '--memory', '64K'], device);
    expect(await dst.code).toBe(1);
    expect(dst.stderr()).toMatch(/device ram: the source sent no state check for it/);
    expect(await src.code).toBe(1);
  });

  it('bad --memory arguments are usage errors (exit 2)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['migrate', 'unix:x', '--memory', '1000'], /size must be whole 4 KiB pages, from 4K to 2G/],
      [['migrate', 'unix:x', '--memory', '0'], /size must be whole 4 KiB pages/],
      [['incoming', 'unix:x', '--memory', '3G'], /size must be whole 4 KiB pages/],
      [['migrate', 'unix:x', '--memory', 'lots'], /"lots" is not a size/],
      [['migrate', 'unix:x', '--memory', ',seed=1'], /the size comes first/],
      [['migrate', 'unix:x', '--memory', '64M,dirty-rate=fast'], /dirty-rate: "fast" is not a size/],
      [['incoming', 'unix:x', '--memory', '64M,colour=red'], /unknown option "colour" \(dirty-rate, seed\)/],
      [['migrate', 'unix:x', '--memory', '64M,seed=99999999999'], /seed must fit in 32 bits/],
      [['migrate', 'unix:x', '--memory', '64M', '--memory', '32M'], /--memory is given more than once/],
      [['migrate', 'unix:x'], /migrate needs at least one --device, or --memory/],
      [['incoming', 'unix:x'], /incoming needs at least one --device, or --memory/],
    ];
    for (const [args, message] of cases) {
      const run = runCli(args);
      expect(await run.code, args.join(' ')).toBe(2);
      expect(run.stderr()).toMatch(message);
      expect(run.stderr()).toMatch(/run "savevm --help"/);
    }
  });
});

describe('--memory specs', () => {
  it('reads the size, the dirty rate in bytes per second, and the seed', () => {
    expect(parseMemorySpec('64M,dirty-rate=8M/s,seed=3')).toEqual({ size: 64 * MiB, dirtyRate: 8 * MiB, seed: 3, text: '64M,dirty-rate=8M/s,seed=3' });
    expect(parseMemorySpec('1G')).toMatchObject({ size: 1024 * MiB, dirtyRate: 0, seed: 1 });
    expect(parseMemorySpec('2G').size).toBe(2048 * MiB);
    expect(parseMemorySpec('4K').size).toBe(4096);
  });
});
