/**
 * Issue 17 item 1: a state-check section whose records claim absurd dirtied-page counts (with
 * the right digests) is refused while it loads, at the count's offset, in bounded time: the
 * destination neither spins nor crashes, and names the section, the phase and the cause.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_SEEDED_WRITES, expectedSeededDigest } from '../src/devices/seeded-bytes.js';
import { runCli, summaryOf } from './helpers/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-hostile-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VM = ['--device', 'emulated:a,size=64K,seed=5', '--memory', '64K'];

/** Saves a snapshot and rewrites every record's pages-dirtied count (the be64 before its digest). */
async function snapshotClaiming(name: string, pagesDirtied: bigint): Promise<string> {
  const path = join(dir, name);
  const save = runCli(['migrate', `file:${path}`, '--paused', ...VM]);
  expect(await save.code).toBe(0);
  const bytes = readFileSync(path);
  for (const device of summaryOf(save).devices) {
    const at = bytes.indexOf(Buffer.from(String(device.sha256), 'hex'));
    expect(at).toBeGreaterThan(8);
    bytes.writeBigUInt64BE(pagesDirtied, at - 8);
  }
  writeFileSync(path, bytes);
  return path;
}

describe('a state check claiming more dirtied pages than can be checked', () => {
  it.each([2n ** 53n - 1n, 2n ** 31n, BigInt(MAX_SEEDED_WRITES) + 1n])('pagesDirtied = %s: refused at load, in bounded time', async (claim) => {
    const path = await snapshotClaiming(`claim-${claim}.mig`, claim);
    const started = Date.now();
    const restore = runCli(['incoming', `file:${path}`, ...VM]);
    expect(await restore.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    const line = restore.stderr().trim();
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toMatch(/FAILED \(device entry "savevm-migrator\/state-check", phase load-state, .*section \d+.*\): .*claims \d+ dirtied pages; the byte check recomputes at most 8388608/);
  });

  it('the check itself refuses to recompute more writes than its bound', () => {
    expect(() => expectedSeededDigest(4096, 1, MAX_SEEDED_WRITES + 1)).toThrow(RangeError);
    expect(() => expectedSeededDigest(4096, 1, 2 ** 53 - 1)).toThrow(/at most 8388608/);
  });
});
