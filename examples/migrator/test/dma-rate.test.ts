/**
 * `emulated:NAME,…,dma-rate=RATE` with `--memory`: the device writes guest RAM by DMA while
 * it runs, its DMA logging feeds the RAM's dirty log, and the destination's check finds the
 * RAM byte for byte the source's; `dma-rate` without `--memory` is a usage error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDeviceSpec } from '../src/devices/device-spec.js';
import { runCli, summaryOf } from './helpers/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-dma-rate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('savevm migrate / incoming with a device writing guest RAM by DMA', () => {
  it('live over unix: the device writes RAM pages all through pre-copy and the destination verifies every byte', async () => {
    const path = join(dir, 'dma.sock');
    const device = ['--device', 'emulated:gpu0,size=256K,flags=stop-copy|p2p|pre-copy,dma-rate=4M,seed=5'];
    const dst = runCli(['incoming', `unix:${path}`, '--timeout', '20s', ...device, '--memory', '8M,seed=99']);
    await dst.waitFor('listening');
    const src = runCli(['migrate', `unix:${path}`, ...device, '--memory', '8M,seed=3', '--max-bandwidth', '16M']);
    expect(await src.code, src.stderr()).toBe(0);
    expect(await dst.code, dst.stderr()).toBe(0);
    const sent = summaryOf(src).devices;
    const got = summaryOf(dst).devices;
    const srcRam = sent.find((d) => d.device === 'ram');
    const srcDevice = sent.find((d) => String(d.device).startsWith('emulated:gpu0'));
    expect(summaryOf(src).iterations).toBeGreaterThan(1);
    expect(srcDevice?.dmaPagesWritten).toBeGreaterThan(50);
    expect(srcRam?.dmaPagesWritten).toBe(srcDevice?.dmaPagesWritten);
    expect(srcRam?.intact).toBeUndefined();
    const dstRam = got.find((d) => d.device === 'ram');
    expect(dstRam).toMatchObject({ verified: true, sha256: srcRam?.sha256 });
    expect(got.every((d) => d.verified === true)).toBe(true);
  });

  it('dma-rate without --memory is a usage error; the spec reads it in bytes per second', async () => {
    for (const command of ['migrate', 'incoming']) {
      const run = runCli([command, 'unix:x', '--device', 'emulated:gpu0,dma-rate=1M']);
      expect(await run.code).toBe(2);
      expect(run.stderr()).toMatch(/--device emulated:gpu0,dma-rate=1M: dma-rate needs --memory \(the device writes guest RAM by DMA\)/);
    }
    expect(parseDeviceSpec('emulated:gpu0,dma-rate=8M')).toMatchObject({ kind: 'emulated', dmaRate: 8 * 1024 * 1024 });
    expect(parseDeviceSpec('emulated:gpu0')).toMatchObject({ dmaRate: 0 });
    expect(() => parseDeviceSpec('emulated:gpu0,dma-rate=fast')).toThrow(/dma-rate/);
  });
});
