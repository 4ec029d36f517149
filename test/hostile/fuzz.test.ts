/**
 * The fuzz suite of issue 17 (fixed seeds, bounded time): mutated and truncated streams from
 * test/fixtures and from core's own source, and generated vmdescs, through the stream reader
 * (inspectStream), the vmdesc decoder and MigrationDestination. Each target runs in a child
 * with a 256 MiB heap cap and a watchdog: a hang or runaway memory fails the test instead of
 * the runner; every case must end within 2 s with a result or a typed error whose message has
 * no raw control character.
 */
import { describe, expect, it } from 'vitest';
import { runBoundedChild } from './bounded-child.js';

const TARGETS = [
  { target: 'stream-reader', seed: 17_001, runs: 300 },
  { target: 'vmdesc', seed: 17_002, runs: 300 },
  { target: 'destination', seed: 17_003, runs: 400 },
] as const;

describe('fuzz: hostile streams and vmdescs', () => {
  it.each(TARGETS)('$target (seed $seed, $runs cases)', async ({ target, seed, runs }) => {
    const run = await runBoundedChild('./fuzz-child.ts', { target, seed, runs, caseMs: 2000 }, { timeoutMs: 45_000, heapMb: 256 });
    expect(run.timedOut, `watchdog: ${run.stderr.slice(-2000)}`).toBe(false);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as { ok: boolean; runs: number; failure?: string };
    expect(result.failure).toBeUndefined();
    expect(result).toMatchObject({ ok: true, runs });
  });
});
