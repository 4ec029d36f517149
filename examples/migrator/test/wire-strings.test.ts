/**
 * Issue 17 item 4: strings from the wire — an idstr, the machine name, a configuration
 * subsection name — reach neither the terminal nor a JSON line raw. A crafted idstr cannot
 * forge a second line ("savevm incoming: completed OK"), a machine name cannot set the
 * terminal's title or clear the screen, in `incoming`'s error and in `inspect`, text and JSON.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ByteArrayWriter,
  RecordType,
  escapeWireString,
  hasRawControlCharacters,
  writeConfiguration,
  writeEof,
  writeHeader,
  writeSectionFooter,
  writeSectionFull,
} from '@savevm/stream';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-wire-strings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FORGED_IDSTR = 'evil\nsavevm incoming: completed OK\r\u001b[2K\u009b31m';
const HOSTILE_MACHINE = 'pc\u001b]0;pwned\u0007\u001b[2J\u001b[H\u202e';

function file(name: string, build: (f: ByteArrayWriter) => void): string {
  const f = new ByteArrayWriter();
  build(f);
  const path = join(dir, name);
  writeFileSync(path, f.bytes());
  return path;
}

/** A stream whose only section is a FULL for `idstr`, four body bytes, its footer, EOF. */
const forged = file('forged-idstr.mig', (f) => {
  writeHeader(f);
  writeConfiguration(f, HOSTILE_MACHINE);
  writeSectionFull(f, { sectionId: 1, idstr: FORGED_IDSTR, instanceId: 0, versionId: 1 });
  f.putBe32(0);
  writeSectionFooter(f, 1);
  writeEof(f);
});

/** A configuration section with a subsection whose name is an escape sequence. */
const badSubsection = file('bad-subsection.mig', (f) => {
  writeHeader(f);
  writeConfiguration(f, 'pc');
  f.putU8(RecordType.SUBSECTION);
  f.putCountedString('\u001b[2Jconfiguration/\u0007x');
  f.putBe32(1);
  writeEof(f);
});

function expectClean(text: string): void {
  expect(hasRawControlCharacters(text)).toBe(false);
}

describe('wire strings are escaped when printed', () => {
  it('escapeWireString: controls, C1, bidi, line separators; idempotent; plain text unchanged', () => {
    expect(escapeWireString('a\nb\r\u001b[2J\u0000\u007f\u009b\u202e\u2028')).toBe('a\\nb\\r\\x1b[2J\\x00\\x7f\\x9b\\u{202e}\\u{2028}');
    expect(escapeWireString(escapeWireString(FORGED_IDSTR))).toBe(escapeWireString(FORGED_IDSTR));
    const plain = '0000:00:02.0/vfio';
    expect(escapeWireString(plain)).toBe(plain);
  });

  it('incoming: a forged idstr gives one escaped line, text and JSON', async () => {
    for (const json of [false, true]) {
      const run = runCli(['incoming', `file:${forged}`, '--device', 'emulated:a,size=4K', ...(json ? ['--json'] : [])]);
      expect(await run.code).toBe(1);
      const err = run.stderr();
      expect(err.trim().split('\n')).toHaveLength(1);
      expect(err).toContain("Unknown savevm section or instance 'evil\\nsavevm incoming: completed OK\\r\\x1b[2K\\x9b31m' 0");
      expectClean(err);
      expectClean(run.stdout());
      if (json) {
        const error = run.records().find((r) => r.event === 'error');
        expect(String(error?.message)).toContain('evil\\nsavevm incoming');
        expect(run.stdout()).not.toContain('\u009b');
      }
    }
  });

  it('inspect: the machine name and the idstr are escaped, text and JSON', async () => {
    const text = runCli(['inspect', forged]);
    expect(await text.code).toBe(0);
    expectClean(text.stdout());
    expectClean(text.stderr());
    expect(text.stdout()).toContain("machine='pc\\x1b]0;pwned\\x07\\x1b[2J\\x1b[H\\u{202e}'");
    expect(text.stdout()).toContain("idstr='evil\\nsavevm incoming: completed OK");
    const json = runCli(['inspect', forged, '--json']);
    expect(await json.code).toBe(0);
    expectClean(json.stdout());
    const parsed = JSON.parse(json.stdout()) as { records: Array<{ machine?: string; idstr?: string }> };
    // The JSON still carries the exact strings, escaped only in its text.
    expect(parsed.records.find((r) => r.machine !== undefined)?.machine).toBe(HOSTILE_MACHINE);
    expect(parsed.records.find((r) => r.idstr !== undefined)?.idstr).toBe(FORGED_IDSTR);
  });

  it('a configuration subsection named by escape sequences: one escaped line from inspect and incoming', async () => {
    const inspect = runCli(['inspect', badSubsection]);
    expect(await inspect.code).toBe(1);
    expect(inspect.stderr()).toContain('unknown configuration subsection "\\x1b[2Jconfiguration/\\x07x"');
    expectClean(inspect.stderr());
    const incoming = runCli(['incoming', `file:${badSubsection}`, '--device', 'emulated:a,size=4K']);
    expect(await incoming.code).toBe(1);
    expect(incoming.stderr().trim().split('\n')).toHaveLength(1);
    expectClean(incoming.stderr());
    expectClean(incoming.stdout());
  });
});
