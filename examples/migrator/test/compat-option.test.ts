/**
 * `savevm migrate --compat 7.2|10.0`: the stream QEMU 7.2 accepts (the default) or the one
 * QEMU 10.0 writes; the choice is on the `connected:` line and in the summary, and the
 * destination loads either.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectStream } from '@savevm/inspect';
import { afterAll, describe, expect, it } from 'vitest';
import { describeCompat, parseCompat } from '../src/args/compat-option.js';
import { UsageError } from '../src/args/usage-error.js';
import { runCli, summaryOf } from './helpers/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-cli-compat-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const DEVICE = ['--device', 'emulated:gpu0,size=64K,seed=3'];

describe('--compat', () => {
  it('takes 7.2 or 10.0 (and core\'s names); qemu-7.2 when not given', () => {
    expect(parseCompat(undefined)).toBe('qemu-7.2');
    expect(parseCompat('7.2')).toBe('qemu-7.2');
    expect(parseCompat('10.0')).toBe('qemu-10.0');
    expect(parseCompat('qemu-10.0')).toBe('qemu-10.0');
    expect(() => parseCompat('9.2')).toThrow(UsageError);
  });

  it.each([
    [[], 'qemu-7.2', 'stream for QEMU 7.2', 0],
    [['--compat', '10.0'], 'qemu-10.0', 'stream for QEMU 10.0', 1],
  ] as const)('migrate %j: the summary and the connected line say %s; the snapshot carries %#', async (flags, compat, said, commands) => {
    const path = join(dir, `${compat}.mig`);
    const save = runCli(['migrate', `file:${path}`, '--paused', ...flags, ...DEVICE]);
    expect(await save.code).toBe(0);
    expect(summaryOf(save).streamCompat).toBe(compat);
    const connected = save.records().find((r) => r.event === 'connected');
    expect(connected).toMatchObject({ streamCompat: compat });
    // On a terminal the line reads `connected: file …; stream for QEMU x.y`.
    expect(describeCompat(compat)).toBe(said);
    const { records } = await inspectStream(readFileSync(path));
    expect(records.filter((r) => r.record.type === 'command').map((r) => r.record.type === 'command' && r.record.command)).toEqual(
      commands === 1 ? [11] : [],
    );
    const restore = runCli(['incoming', `file:${path}`, ...DEVICE]);
    expect(await restore.code).toBe(0);
    expect(summaryOf(restore).devices.every((d) => d.verified === true)).toBe(true);
    expect(summaryOf(restore).streamCompat).toBeNull();
  });

  it('an unknown value is a usage error', async () => {
    const run = runCli(['migrate', `file:${join(dir, 'x.mig')}`, '--compat', '8.0', ...DEVICE]);
    expect(await run.code).toBe(2);
    expect(run.stderr()).toContain('--compat takes 7.2 or 10.0 (got 8.0)');
  });
});
