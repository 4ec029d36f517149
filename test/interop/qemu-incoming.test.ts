/**
 * QEMU 7.2 and 10.0 as the destination: each loads streams written by `@savevm/stream`,
 * applies the run state a globalstate section carries, and rejects every bad stream kind of
 * issue 2 with its own words, while our StreamParser (set up with that QEMU's commands)
 * rejects it with the matching typed error. SWITCHOVER_START is a bad stream for 7.2 only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findTrailingVmdesc } from '@savevm/inspect';
import {
  MemoryReadChannel,
  QemuFileReader,
  StreamError,
  StreamFormatError,
  StreamParser,
  StreamTruncatedError,
  writeCommand,
  writeSectionEnd,
  writeSectionPart,
  type StreamErrorCode,
} from '@savevm/stream';
import { expect, it } from 'vitest';
import { describeEachQemu, loadStream, type LoadResult, type QemuFacts } from './qemu-harness.js';
import {
  GLOBALSTATE_VMDESC,
  KNOWN_BODY_SIZES,
  be32,
  globalstateStream,
  insertAt,
  minimalStream,
  overwrite,
  removeRange,
  timerStream,
  truncate,
  writeToBytes,
  type TimerStreamLayout,
} from './stream-builders.js';
import { inspectRecords, parseWithKnownBodies } from './stream-walk.js';

const fixtures = (version: string): string => fileURLToPath(new URL(`../fixtures/qemu-${version}/`, import.meta.url));
const LOAD_FAILED = 'load of migration failed';

function expectAccepted(result: LoadResult, status: string): void {
  expect(result.stderr).not.toContain(LOAD_FAILED);
  expect(result).toMatchObject({ accepted: true, status, exitCode: 0 });
}

describeEachQemu((v) => `QEMU ${v} loads streams written by @savevm/stream`, (qemu) => {
  const qemuOpt = { qemu: qemu.version };
  it('header + configuration + EOF + vmdesc: accepted silently, VM paused (-S)', async () => {
    const bytes = await minimalStream('none', []);
    const json = '{"page_size": 4096, "devices": []}';
    expect(bytes.subarray(18)).toEqual(Buffer.concat([Buffer.of(0x06), be32(json.length), Buffer.from(json)]));
    const result = await loadStream(bytes, { machine: 'none', ...qemuOpt });
    expectAccepted(result, 'paused');
    expect(result.stderr).not.toContain('Expected vmdescription');
  });

  it('the minimal 18-byte stream: accepted, with only the non-fatal vmdesc warning', async () => {
    const bytes = await minimalStream('none');
    expect(bytes).toEqual(Buffer.from('5145564d0000000307000000046e6f6e6500', 'hex'));
    const parser = new StreamParser(new QemuFileReader(new MemoryReadChannel(bytes)));
    const types: string[] = [];
    for (let r = await parser.next(); r !== null; r = await parser.next()) types.push(r.type);
    expect(types).toEqual(['header', 'configuration', 'eof']);
    expect(parser.warnings).toEqual(['Expected vmdescription section, but got 0']);

    const result = await loadStream(bytes, { machine: 'none', ...qemuOpt });
    expectAccepted(result, 'paused');
    expect(result.stderr).toContain('Expected vmdescription section, but got 0');
  });

  it(`-machine pc accepts header + configuration "${qemu.pcMachine}" + EOF + vmdesc`, async () => {
    const bytes = await minimalStream(qemu.pcMachine, []);
    const name = qemu.pcMachine;
    expect(bytes.subarray(8, 13 + name.length).toString('latin1')).toBe(`\x07\x00\x00\x00${String.fromCharCode(name.length)}${name}`);
    expectAccepted(await loadStream(bytes, { machine: 'pc', memoryMiB: 16, ...qemuOpt }), 'paused');
  });

  it('-machine q35 refuses the other version\'s machine type, with both names', async () => {
    const other = qemu.version === '7.2' ? 'pc-q35-10.0' : 'pc-q35-7.2';
    const result = await loadStream(await minimalStream(other, []), { machine: 'q35', memoryMiB: 16, ...qemuOpt });
    expect(result.accepted).toBe(false);
    expect(result.stderr).toContain(`Machine type received is '${other}' and local is '${qemu.q35Machine}'`);
  });

  it('a FULL timer section (the base of the bad-stream cases) is accepted', async () => {
    const { bytes } = await timerStream();
    expect((await inspectRecords(bytes)).map((r) => r.type)).toEqual(['header', 'configuration', 'full', 'eof', 'vmdesc']);
    expectAccepted(await loadStream(bytes, { machine: 'none', ...qemuOpt }), 'paused');
  });
});

describeEachQemu((v) => `QEMU ${v} applies the run state of a globalstate section`, (qemu) => {
  const qemuOpt = { qemu: qemu.version };

  it('our globalstate section (7.2\'s layout) is the one in QEMU\'s none-running.mig but for the section id and, from 10.0 on, has_vm_was_suspended', async () => {
    const ours = await globalstateStream('running');
    const vector = readFileSync(`${fixtures(qemu.version)}none-running.mig`);
    const section = (b: Buffer, at: number): Buffer => Buffer.from(b.subarray(at, at + 25 + 104 + 5));
    const oursAt = (await inspectRecords(ours)).find((r) => r.idstr === 'globalstate')?.offset ?? -1;
    const vectorAt = (await inspectRecords(vector)).find((r) => r.idstr === 'globalstate')?.offset ?? -1;
    const theirs = section(vector, vectorAt);
    const mine = section(ours, oursAt);
    expect(theirs.readUInt32BE(1)).toBe(qemu.noneSectionIds.globalstate);
    // Byte 36 of the body: 10.0's has_vm_was_suspended (it always writes 1), 7.2's zero padding.
    expect(theirs[25 + 36]).toBe(qemu.globalstateHasVmWasSuspended ? 1 : 0);
    theirs[25 + 36] = 0;
    for (const b of [theirs, mine]) {
      b.writeUInt32BE(0, 1); // the section id, in the header
      b.writeUInt32BE(0, 25 + 104 + 1); // and in the footer
    }
    expect(mine.toString('hex')).toBe(theirs.toString('hex'));
    const described = findTrailingVmdesc(vector)?.devices.find((d) => d.name === 'globalstate');
    if (qemu.globalstateHasVmWasSuspended) expect(described?.fields?.map((f) => f.name)).toEqual(['size', 'runstate', 'has_vm_was_suspended', 'vm_was_suspended', 'unused']);
    else expect(described).toEqual(GLOBALSTATE_VMDESC);
  });

  it('control: without -S and without globalstate the VM runs after the load', async () => {
    expectAccepted(await loadStream(await minimalStream('none', []), { machine: 'none', paused: false, ...qemuOpt }), 'running');
  });

  it('globalstate "paused" keeps the VM paused even without -S', async () => {
    expectAccepted(await loadStream(await globalstateStream('paused'), { machine: 'none', paused: false, ...qemuOpt }), 'paused');
  });

  it('globalstate "running" makes it run (without -S)', async () => {
    expectAccepted(await loadStream(await globalstateStream('running'), { machine: 'none', paused: false, ...qemuOpt }), 'running');
  });
});

interface BadCase {
  /** What is wrong. */
  readonly name: string;
  /** Byte surgery on the good timer stream. */
  readonly build: (s: TimerStreamLayout) => Promise<Buffer>;
  /** Lines QEMU must print (docs/design/stream-format.md §7). */
  readonly qemu: readonly string[];
  /** Our parser's error class, code and offset. */
  readonly error: typeof StreamFormatError | typeof StreamTruncatedError;
  readonly code: StreamErrorCode;
  readonly offset: (s: TimerStreamLayout, bad: Buffer) => number;
}

const atEof = (record: (f: Parameters<Parameters<typeof writeToBytes>[0]>[0]) => void) => async (s: TimerStreamLayout) =>
  insertAt(s.bytes, s.eof, await writeToBytes(record));

const BAD_CASES: readonly BadCase[] = [
  {
    name: 'bad magic',
    build: async (s) => overwrite(s.bytes, 0, Buffer.from('QEVN')),
    qemu: ['Not a migration stream'],
    error: StreamFormatError,
    code: 'BAD_MAGIC',
    offset: () => 0,
  },
  {
    name: 'version 2',
    build: async (s) => overwrite(s.bytes, s.version, be32(2)),
    qemu: ["SaveVM v2 format is obsolete and don't work anymore"],
    error: StreamFormatError,
    code: 'OBSOLETE_VERSION',
    offset: (s) => s.version,
  },
  {
    name: 'version 4',
    build: async (s) => overwrite(s.bytes, s.version, be32(4)),
    qemu: ['Unsupported migration stream version'],
    error: StreamFormatError,
    code: 'UNSUPPORTED_VERSION',
    offset: (s) => s.version,
  },
  {
    name: 'missing configuration',
    build: async (s) => removeRange(s.bytes, s.configuration, s.timer),
    qemu: ['Configuration section missing'],
    error: StreamFormatError,
    code: 'MISSING_CONFIGURATION',
    offset: (s) => s.configuration,
  },
  {
    name: 'missing footer',
    build: async (s) => removeRange(s.bytes, s.timerFooter, s.eof),
    qemu: ['Missing section footer for timer'],
    error: StreamFormatError,
    code: 'MISSING_FOOTER',
    offset: (s) => s.timerFooter,
  },
  {
    name: 'footer with the wrong id',
    build: async (s) => overwrite(s.bytes, s.timerFooter + 1, be32(5)),
    qemu: ['Mismatched section id in footer for timer - read 0x5 expected 0x0'],
    error: StreamFormatError,
    code: 'FOOTER_MISMATCH',
    offset: (s) => s.timerFooter,
  },
  {
    name: 'unknown record type 0x09',
    build: async (s) => insertAt(s.bytes, s.eof, Buffer.of(0x09)),
    qemu: ['Unknown savevm section type 9'],
    error: StreamFormatError,
    code: 'UNKNOWN_RECORD',
    offset: (s) => s.eof,
  },
  {
    name: 'unknown command 0x00 (INVALID)',
    build: atEof((f) => writeCommand(f, 0x00)),
    qemu: ['MIG_CMD 0x0 unknown (len 0x0)'],
    error: StreamFormatError,
    code: 'UNKNOWN_COMMAND',
    offset: (s) => s.eof,
  },
  {
    name: 'PART for an unknown section id',
    build: atEof((f) => writeSectionPart(f, 7)),
    qemu: ['Unknown savevm section 7'],
    error: StreamFormatError,
    code: 'UNKNOWN_SECTION',
    offset: (s) => s.eof,
  },
  {
    name: 'END for an unknown section id',
    build: atEof((f) => writeSectionEnd(f, 7)),
    qemu: ['Unknown savevm section 7'],
    error: StreamFormatError,
    code: 'UNKNOWN_SECTION',
    offset: (s) => s.eof,
  },
  {
    name: 'truncated inside a body',
    build: async (s) => truncate(s.bytes, s.timerBody + 10),
    qemu: ['Failed to load timer:unused', "error while loading state for instance 0x0 of device 'timer'", 'Input/output error'],
    error: StreamTruncatedError,
    code: 'TRUNCATED',
    offset: (_s, bad) => bad.length,
  },
  {
    name: 'truncated before the EOF byte',
    build: async (s) => truncate(s.bytes, s.eof),
    qemu: [`${LOAD_FAILED}: Input/output error`],
    error: StreamTruncatedError,
    code: 'TRUNCATED',
    offset: (_s, bad) => bad.length,
  },
  {
    name: 'truncated in the header (6 bytes)',
    build: async (s) => truncate(s.bytes, 6),
    qemu: ['Unsupported migration stream version'],
    error: StreamTruncatedError,
    code: 'TRUNCATED',
    offset: (_s, bad) => bad.length,
  },
];

/** The command the version's loader does not know (7.2: SWITCHOVER_START; 10.0: the next number). */
function unknownCommandCase(qemu: QemuFacts): BadCase {
  const cmd = qemu.firstUnknownCommand;
  return {
    name: `unknown command 0x${cmd.toString(16)}${qemu.acceptsSwitchoverStart ? '' : ' (SWITCHOVER_START)'}`,
    build: atEof((f) => writeCommand(f, cmd)),
    qemu: [`MIG_CMD 0x${cmd.toString(16)} unknown (len 0x0)`],
    error: StreamFormatError,
    code: 'UNKNOWN_COMMAND',
    offset: (s) => s.eof,
  };
}

describeEachQemu((v) => `QEMU ${v} and StreamParser both reject every bad stream kind`, (qemu) => {
  for (const c of [...BAD_CASES, unknownCommandCase(qemu)]) {
    it(c.name, async () => {
      const layout = await timerStream();
      const bad = await c.build(layout);
      expect(bad.length).toBeGreaterThan(0);

      const caught = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (err: unknown) => err);
      const ours = await caught(parseWithKnownBodies(bad, KNOWN_BODY_SIZES, qemu.commands));
      expect(ours).toBeInstanceOf(c.error);
      expect(ours).toMatchObject({ code: c.code, offset: c.offset(layout, bad) });
      // inspectStream (bodies found by decoding) must reject it too, with a typed error.
      expect(await caught(inspectRecords(bad, qemu.commands))).toBeInstanceOf(StreamError);

      const result = await loadStream(bad, { machine: 'none', qemu: qemu.version });
      expect(result.accepted).toBe(false);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(LOAD_FAILED);
      for (const line of c.qemu) expect(result.stderr).toContain(line);
    });
  }

  it(`SWITCHOVER_START where QEMU 10.0 sends it: ${qemu.acceptsSwitchoverStart ? 'accepted' : 'refused'}, as the parser set up with its commands says`, async () => {
    const layout = await timerStream();
    const bytes = insertAt(layout.bytes, layout.timer, await writeToBytes((f) => writeCommand(f, 0x0b)));
    const caught = await parseWithKnownBodies(bytes, KNOWN_BODY_SIZES, qemu.commands).then(() => undefined, (err: unknown) => err);
    const result = await loadStream(bytes, { machine: 'none', qemu: qemu.version });
    if (qemu.acceptsSwitchoverStart) {
      expect(caught).toBeUndefined();
      expectAccepted(result, 'paused');
    } else {
      expect(caught).toMatchObject({ code: 'UNKNOWN_COMMAND', offset: layout.timer });
      expect(result.accepted).toBe(false);
      expect(result.stderr).toContain('MIG_CMD 0xb unknown (len 0x0)');
    }
  });
});

/** Parses with the bare parser; returns its warnings, or the error it threw. */
async function parserOutcome(bytes: Buffer): Promise<{ warnings: string[] } | { error: unknown }> {
  const parser = new StreamParser(new QemuFileReader(new MemoryReadChannel(bytes)));
  try {
    for (let r = await parser.next(); r !== null; r = await parser.next()) {
      if (r.type === 'full') await parser.reader.skip(KNOWN_BODY_SIZES.get(r.idstr) ?? 0);
    }
    return { warnings: parser.warnings };
  } catch (error) {
    return { error };
  }
}

describeEachQemu((v) => `after EOF: what QEMU ${v} tolerates`, (qemu) => {
  const qemuOpt = { qemu: qemu.version };
  it('nothing after EOF: both accept, with the same warning', async () => {
    const s = await timerStream();
    const bytes = truncate(s.bytes, s.eof + 1);
    expect(await parserOutcome(bytes)).toEqual({ warnings: ['Expected vmdescription section, but got 0'] });
    const qemu = await loadStream(bytes, { machine: 'none', ...qemuOpt });
    expectAccepted(qemu, 'paused');
    expect(qemu.stderr).toContain('Expected vmdescription section, but got 0');
  });

  it('junk instead of a vmdesc: both accept, with the same warning', async () => {
    const s = await timerStream();
    const bytes = Buffer.concat([truncate(s.bytes, s.eof + 1), Buffer.from('B junk')]);
    expect(await parserOutcome(bytes)).toEqual({ warnings: ['Expected vmdescription section, but got 66'] });
    const qemu = await loadStream(bytes, { machine: 'none', ...qemuOpt });
    expectAccepted(qemu, 'paused');
    expect(qemu.stderr).toContain('Expected vmdescription section, but got 66');
  });

  it('a truncated vmdesc: QEMU accepts silently, our parser (truncation anywhere) rejects', async () => {
    const s = await timerStream();
    for (const cut of [s.eof + 3, s.bytes.length - 1]) {
      const bytes = truncate(s.bytes, cut);
      const ours = await parserOutcome(bytes);
      expect('error' in ours ? ours.error : ours).toBeInstanceOf(StreamTruncatedError);
      const qemu = await loadStream(bytes, { machine: 'none', ...qemuOpt });
      expectAccepted(qemu, 'paused');
      expect(qemu.stderr).toBe('');
    }
  });
});
