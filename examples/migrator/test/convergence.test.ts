/**
 * `savevm migrate` with a running VM whose 64 MiB device moves only at stop-copy: at the
 * defaults (300 ms at 128 MiB/s) it never converges. The CLI says so — one warning and the
 * progress lines name pending, threshold and rounds without progress — and `--converge`
 * picks what happens (docs/design/convergence.md; issue 17 item 8).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMigrateOptions } from '../src/args/migration-options.js';
import { runCli, summaryOf } from './helpers/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-converge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const BIG = ['--device', 'emulated:big,size=64M,seed=3'];

describe('a live migration that does not converge', () => {
  it('keep-going (the default): warns once with pending, threshold and rounds, progress lines say so; Ctrl-C ends it, VM running', async () => {
    const interrupt = new AbortController();
    const run = runCli(['migrate', `file:${join(dir, 'keep.mig')}`, ...BIG, '--stall-rounds', '5'], { interrupt: interrupt.signal });
    await run.waitFor('warning');
    interrupt.abort();
    expect(await run.code).toBe(130);
    const warning = run.records().find((r) => r.event === 'warning');
    expect(warning?.message).toMatch(/^not converging: 64\.2 MiB pending, threshold [\d.]+ MiB \(downtime limit 300 ms\), 5 rounds without progress; --converge keep-going$/);
    const stalled = run.records().find((r) => r.event === 'progress' && r.convergence !== undefined);
    expect(stalled?.convergence).toMatchObject({ notConverging: true, pendingBytes: 67_305_508, downtimeLimitMs: 300, policy: 'keep-going' });
    const summary = summaryOf(run);
    expect(summary.status).toBe('cancelled');
    expect(summary.devices[0]?.deviceState).toBe('RUNNING');
  });

  it('--converge switchover,rounds=12: switches over anyway and says so in the summary', async () => {
    const run = runCli(['migrate', `file:${join(dir, 'forced.mig')}`, ...BIG, '--converge', 'switchover,rounds=12']);
    expect(await run.code).toBe(0);
    const summary = summaryOf(run);
    expect(summary.status).toBe('completed');
    expect((summary.warnings as string[]).some((w) => /^switching over anyway after 12 rounds without progress/.test(w))).toBe(true);
  });

  it('--converge step-downtime: the limit rises until 64 MiB fits', async () => {
    const run = runCli(['migrate', `file:${join(dir, 'step.mig')}`, ...BIG, '--stall-rounds', '3', '--converge', 'step-downtime,step=250ms,ceiling=1s']);
    expect(await run.code).toBe(0);
    expect(summaryOf(run).status).toBe('completed');
    expect(run.records().find((r) => r.event === 'warning')?.message).toMatch(/^not converging: .*; --converge step-downtime$/);
    // At 300 ms it never converges (first test): completing means a stepped limit let it switch over.
    expect((summaryOf(run).warnings as string[]).some((w) => w.startsWith('not converging:'))).toBe(true);
  });

  it('parses --converge and --stall-rounds; refuses what it does not know', () => {
    const base = ['tcp:h:1', '--device', 'emulated:a'];
    expect(parseMigrateOptions(base).convergencePolicy).toEqual({ kind: 'keep-going' });
    expect(parseMigrateOptions([...base, '--converge', 'switchover,rounds=4,after=30s']).convergencePolicy).toEqual({ kind: 'switchover', afterRounds: 4, afterMs: 30_000 });
    expect(parseMigrateOptions([...base, '--converge', 'step-downtime']).convergencePolicy).toEqual({ kind: 'step-downtime', stepMs: 100, ceilingMs: 2000 });
    expect(parseMigrateOptions([...base, '--stall-rounds', '20']).stallRounds).toBe(20);
    expect(() => parseMigrateOptions([...base, '--converge', 'give-up'])).toThrow(/--converge takes keep-going/);
    expect(() => parseMigrateOptions([...base, '--converge', 'switchover,bogus=1'])).toThrow(/unknown option "bogus"/);
    expect(() => parseMigrateOptions([...base, '--stall-rounds', '0'])).toThrow(/at least 1/);
  });
});
