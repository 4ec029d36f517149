/**
 * Issue 17 item 3: `inspect` and the destination agree on what is valid, one parser deciding.
 * A START whose footer is missing, or names another section, is refused by both at the same
 * byte offset; so is a FULL whose footer names another open section. Before, `inspect` found
 * a footer further on and showed a body that swallowed the END record.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectStream } from '@savevm/inspect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-agree-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const DEVICE = ['--device', 'emulated:a,size=64K,flags=stop-copy|pre-copy'];
let original: Buffer;
let startFooter: number;
let fullFooter: number;

beforeAll(async () => {
  const path = join(dir, 'good.mig');
  expect(await runCli(['migrate', `file:${path}`, '--paused', ...DEVICE]).code).toBe(0);
  original = readFileSync(path);
  const { records } = await inspectStream(original);
  const start = records.find((r) => r.record.type === 'start');
  const full = records.find((r) => r.record.type === 'full');
  if (start?.record.type !== 'start' || full?.record.type !== 'full') throw new Error('no START or FULL in the snapshot');
  startFooter = start.record.bodyOffset + (start.bodySize ?? 0);
  fullFooter = full.record.bodyOffset + (full.bodySize ?? 0);
  expect(original[startFooter]).toBe(0x7e);
  expect(original[fullFooter]).toBe(0x7e);
});

function variant(name: string, edit: (b: Buffer) => Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, edit(Buffer.from(original)));
  return path;
}

async function bothRefuse(path: string, cause: RegExp): Promise<void> {
  const inspect = runCli(['inspect', path]);
  expect(await inspect.code).toBe(1);
  const offset = /invalid stream at byte offset (\d+)/.exec(inspect.stderr())?.[1];
  expect(inspect.stderr()).toMatch(cause);
  const incoming = runCli(['incoming', `file:${path}`, ...DEVICE]);
  expect(await incoming.code).toBe(1);
  expect(incoming.stderr()).toMatch(cause);
  expect(incoming.stderr()).toContain(`byte ${offset}`);
}

describe('inspect and incoming agree', () => {
  it('the unaltered snapshot is valid for both', async () => {
    const path = variant('same.mig', (b) => b);
    expect(await runCli(['inspect', path]).code).toBe(0);
    expect(await runCli(['incoming', `file:${path}`, ...DEVICE]).code).toBe(0);
  });

  it('a START without its footer: both refuse it at the same offset', async () => {
    const path = variant('no-footer.mig', (b) => Buffer.concat([b.subarray(0, startFooter), b.subarray(startFooter + 5)]));
    await bothRefuse(path, /missing section footer for a\/vfio/);
  });

  it('a START whose footer names another section: both refuse it at the same offset', async () => {
    const path = variant('other-footer.mig', (b) => {
      b.writeUInt32BE(7, startFooter + 1);
      return b;
    });
    await bothRefuse(path, /mismatched section id in footer for a\/vfio - read 0x7 expected 0x0/);
  });

  it('a FULL whose footer names another open section: both refuse it', async () => {
    const path = variant('full-other-footer.mig', (b) => {
      b.writeUInt32BE(0, fullFooter + 1);
      return b;
    });
    await bothRefuse(path, /mismatched section id in footer for savevm-migrator\/state-check - read 0x0 expected 0x1/);
  });
});
