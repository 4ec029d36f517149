/**
 * The tiny VMM as its users run it: two processes, a live migration between them that both
 * sides must agree on byte for byte, and a destination with an older device that refuses
 * the state while the source VM keeps running.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../src/exit-code.js';
import { type VmmRun, runPair } from '../src/pair.js';

const built = existsSync(fileURLToPath(new URL('../dist/vmm.js', import.meta.url)));

/** The value of the line `NAME value`. */
function valueOf(run: VmmRun, name: string): string | undefined {
  return run.lines.find((l) => l.startsWith(`${name} `))?.slice(name.length + 1);
}

describe('tiny-vmm: two processes', () => {
  it('is built (npm test and npx tsc -b build dist/vmm.js, which the test runs)', () => {
    expect(built).toBe(true);
  });

  it.runIf(built)('migrates live: the destination checks every device against the source and both exit 0 with the same digest', async () => {
    const { source, destination } = await runPair('live');
    expect(destination.code, destination.lines.join('\n')).toBe(ExitCode.OK);
    expect(source.code, source.lines.join('\n')).toBe(ExitCode.OK);
    expect(valueOf(destination, 'listening')).toMatch(/^tcp:127\.0\.0\.1:[1-9]\d*$/);
    expect(valueOf(source, 'digest')).toMatch(/^[0-9a-f]{64}$/);
    expect(valueOf(destination, 'digest')).toBe(valueOf(source, 'digest'));
    expect(source.lines.filter((l) => l.startsWith('completed,'))).toHaveLength(1);
    expect(source.lines.some((l) => /^active, round [2-9]/.test(l))).toBe(true);
    expect(destination.lines.join('\n')).toMatch(/every device matches the source's digest/);
  });

  it.runIf(built)('refused: a destination with version 1 of the clock fails with VERSION_TOO_NEW; the source reports DESTINATION_FAILED and its VM runs on', async () => {
    const { source, destination } = await runPair('refused');
    expect(destination.code, destination.lines.join('\n')).toBe(ExitCode.FAILED);
    expect(source.code, source.lines.join('\n')).toBe(ExitCode.REFUSED_STILL_RUNNING);
    expect(destination.lines.join('\n')).toMatch(/failed: VERSION_TOO_NEW: .*"tiny-rtc".*version 2/);
    expect(source.lines.join('\n')).toMatch(/failed: DESTINATION_FAILED: .*tiny-rtc/);
    const clock = /the VM runs on here \(clock (\d+) → (\d+)\)/.exec(source.lines.join('\n'));
    expect(clock).not.toBeNull();
    expect(Number(clock?.[2])).toBeGreaterThan(Number(clock?.[1]));
    expect(source.lines.some((l) => l.startsWith('completed,'))).toBe(false);
  });
});
