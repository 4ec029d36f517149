// Everything QEMU 7.2 rejects at the framing level (docs/design/stream-format.md §7) is rejected
// by the parser with a typed error naming the byte offset.
import { describe, expect, it } from 'vitest';
import { StreamError, StreamFormatError, StreamTruncatedError } from '../src/errors.js';
import { QEMU_7_2_COMMANDS } from '../src/grammar/constants.js';
import {
  writeCommand,
  writeConfiguration,
  writeEof,
  writeHeader,
  writeSectionEnd,
  writeSectionFooter,
  writeSectionFull,
  writeSectionPart,
  writeSectionStart,
  writeVmdesc,
} from '../src/grammar/stream-writer.js';
import type { QemuFileWriter } from '../src/file/qemu-file-writer.js';
import type { QemuFileReader } from '../src/file/qemu-file-reader.js';
import { StreamParser } from '../src/grammar/stream-parser.js';
import type { StreamRecord } from '../src/grammar/records.js';
import { bytesOf, hex, parseAll, readerOf } from './helpers.js';

const TIMER = { sectionId: 0, idstr: 'timer', instanceId: 0, versionId: 2 };

function prologue(f: QemuFileWriter): void {
  writeHeader(f);
  writeConfiguration(f, 'none');
}

/** A stream with a 24-byte timer FULL section and a live section 7 (START, PART, END of 4 bytes each). */
async function goodStream(): Promise<Buffer> {
  return bytesOf((f) => {
    prologue(f);
    writeSectionStart(f, { sectionId: 7, idstr: 'live', instanceId: 0, versionId: 1 });
    f.putBe32(1);
    writeSectionFooter(f, 7);
    writeSectionPart(f, 7);
    f.putBe32(2);
    writeSectionFooter(f, 7);
    writeCommand(f, 2, hex('00000001'));
    writeSectionEnd(f, 7);
    f.putBe32(3);
    writeSectionFooter(f, 7);
    writeSectionFull(f, TIMER);
    f.putBuffer(Buffer.alloc(24, 1));
    writeSectionFooter(f, 0);
    writeEof(f);
    writeVmdesc(f, { page_size: 4096, devices: [] });
  });
}

const bodySize = (idstr: string): number => (idstr === 'timer' ? 24 : 4);

async function parse(bytes: Uint8Array, options = {}): Promise<string[]> {
  const recs = await parseAll(
    bytes,
    async (rec, r) => {
      if (rec.type === 'start' || rec.type === 'full' || rec.type === 'part' || rec.type === 'end') await r.skip(bodySize(rec.idstr));
    },
    options,
  );
  return recs.map((r) => r.type);
}

async function rejection(bytes: Uint8Array, options = {}): Promise<StreamError> {
  const err = await parse(bytes, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StreamError);
  return err as StreamError;
}

describe('StreamParser', () => {
  it('reads a well-formed stream with live sections, a command, a FULL section, EOF and vmdesc', async () => {
    expect(await parse(await goodStream())).toEqual(['header', 'configuration', 'start', 'part', 'command', 'end', 'full', 'eof', 'vmdesc']);
  });

  it('resolves PART/END identity from START', async () => {
    const recs = await parseAll(await goodStream(), async (rec, r) => {
      if (rec.type === 'start' || rec.type === 'full' || rec.type === 'part' || rec.type === 'end') await r.skip(bodySize(rec.idstr));
    });
    const part = recs.find((r) => r.type === 'part');
    expect(part).toMatchObject({ sectionId: 7, idstr: 'live', instanceId: 0, versionId: 1, offset: expect.any(Number) });
  });

  it('rejects bad magic at offset 0', async () => {
    const s = await goodStream();
    s[0] = 0x51 ^ 1;
    expect(await rejection(s)).toMatchObject({ code: 'BAD_MAGIC', offset: 0 });
  });

  it('rejects version 2 as obsolete and version 4 as unsupported', async () => {
    const s = await goodStream();
    s.writeUInt32BE(2, 4);
    expect(await rejection(s)).toMatchObject({ code: 'OBSOLETE_VERSION', offset: 4 });
    s.writeUInt32BE(4, 4);
    expect(await rejection(s)).toMatchObject({ code: 'UNSUPPORTED_VERSION', offset: 4 });
  });

  it('rejects a stream without configuration unless told not to require it', async () => {
    const s = await bytesOf((f) => {
      writeHeader(f);
      writeEof(f);
    });
    expect(await rejection(s)).toMatchObject({ code: 'MISSING_CONFIGURATION', offset: 8 });
    expect(await parse(s, { requireConfiguration: false })).toEqual(['header', 'eof']);
  });

  it('rejects a missing footer and a footer with the wrong id, at the footer offset', async () => {
    const missing = await bytesOf((f) => {
      prologue(f);
      writeSectionFull(f, TIMER);
      f.putBuffer(Buffer.alloc(24));
      writeEof(f);
    });
    const footerAt = 17 + 1 + 4 + 1 + 5 + 8 + 24;
    expect(await rejection(missing)).toMatchObject({ code: 'MISSING_FOOTER', offset: footerAt });
    const wrong = await bytesOf((f) => {
      prologue(f);
      writeSectionFull(f, TIMER);
      f.putBuffer(Buffer.alloc(24));
      writeSectionFooter(f, 5);
      writeEof(f);
    });
    const err = await rejection(wrong);
    expect(err).toMatchObject({ code: 'FOOTER_MISMATCH', offset: footerAt });
    expect(err.message).toContain('read 0x5 expected 0x0');
  });

  it('rejects an unknown record type (0x09, and SUBSECTION at top level)', async () => {
    for (const type of [0x09, 0x7e]) {
      const s = Buffer.concat([await bytesOf(prologue), Buffer.from([type])]);
      expect(await rejection(s)).toMatchObject({ code: 'UNKNOWN_RECORD', offset: 17 });
    }
    // 0x05 right after the configuration would open a configuration subsection; after a
    // section it is a top-level SUBSECTION, which QEMU refuses.
    const afterSection = await bytesOf((f) => {
      prologue(f);
      writeSectionFull(f, TIMER);
      f.putBuffer(Buffer.alloc(24));
      writeSectionFooter(f, 0);
      f.putU8(0x05);
    });
    expect(await rejection(afterSection)).toMatchObject({ code: 'UNKNOWN_RECORD', offset: afterSection.length - 1 });
  });

  it('rejects unknown commands (0x0b for QEMU 7.2, 0x00 always) and wrong fixed lengths', async () => {
    const cmd = async (id: number, len: number): Promise<Buffer> =>
      bytesOf((f) => {
        prologue(f);
        writeCommand(f, id, Buffer.alloc(len));
        writeEof(f);
      });
    const qemu72 = { commands: QEMU_7_2_COMMANDS };
    expect(await rejection(await cmd(0x0b, 0), qemu72)).toMatchObject({ code: 'UNKNOWN_COMMAND', offset: 17 });
    expect((await rejection(await cmd(0x0b, 0), qemu72)).message).toContain('MIG_CMD 0xb unknown (len 0x0)');
    expect(await rejection(await cmd(0x00, 0))).toMatchObject({ code: 'UNKNOWN_COMMAND' });
    expect(await rejection(await cmd(2, 3))).toMatchObject({ code: 'BAD_COMMAND_LENGTH' });
    expect(await parse(await cmd(0x0b, 0))).toEqual(['header', 'configuration', 'command', 'eof']); // the default: the newest QEMU's commands
  });

  it('rejects PART and END for an unknown section id', async () => {
    for (const write of [writeSectionPart, writeSectionEnd]) {
      const s = await bytesOf((f) => {
        prologue(f);
        write(f, 7);
      });
      const err = await rejection(s);
      expect(err).toBeInstanceOf(StreamFormatError);
      expect(err).toMatchObject({ code: 'UNKNOWN_SECTION', offset: 17 });
    }
  });

  it('gives a truncation error at every cut of a good stream, never a wrong success', async () => {
    const s = await goodStream();
    const eofAt = s.length - 1 - 4 - '{"page_size": 4096, "devices": []}'.length - 1;
    for (let cut = 0; cut < s.length; cut++) {
      const outcome = await parse(s.subarray(0, cut)).then(
        (types) => types,
        (e: unknown) => e,
      );
      if (cut > eofAt) {
        // After EOF: a missing or cut vmdesc; QEMU still succeeds without one, we report it cut.
        if (Array.isArray(outcome)) expect(cut).toBe(eofAt + 1);
        else expect(outcome).toBeInstanceOf(StreamTruncatedError);
      } else {
        expect(outcome).toBeInstanceOf(StreamTruncatedError);
        expect((outcome as StreamTruncatedError).offset).toBe(cut);
      }
    }
  });

  it('warns (and succeeds) when no vmdesc follows EOF, like QEMU', async () => {
    const s = Buffer.concat([await bytesOf((f) => (prologue(f), writeEof(f))), Buffer.from([66])]);
    const recs = await parseAll(s);
    expect(recs.map((r) => r.type)).toEqual(['header', 'configuration', 'eof']);
  });

  it('refuses a vmdesc length above the limit before reading it', async () => {
    const s = Buffer.concat([await bytesOf((f) => (prologue(f), writeEof(f))), hex('06 ffffffff')]);
    expect(await rejection(s)).toMatchObject({ code: 'TOO_LARGE', offset: 19 });
  });

  it('parses configuration subsections and refuses unknown ones', async () => {
    const withSubs = Buffer.concat([
      await bytesOf((f) => {
        prologue(f);
        f.putU8(0x05);
        f.putCountedString('configuration/target-page-bits');
        f.putBe32(1);
        f.putBe32(12);
        f.putU8(0x05);
        f.putCountedString('configuration/capabilities');
        f.putBe32(1);
        f.putBe32(1);
        f.putCountedString('x-ignore-shared');
        writeEof(f);
      }),
    ]);
    const recs = await parseAll(withSubs);
    expect(recs[1]).toMatchObject({
      type: 'configuration',
      machine: 'none',
      subsections: [
        { name: 'configuration/target-page-bits', targetPageBits: 12 },
        { name: 'configuration/capabilities', capabilities: ['x-ignore-shared'] },
      ],
    });
    const unknown = await bytesOf((f) => {
      prologue(f);
      f.putU8(0x05);
      f.putCountedString('configuration/nope');
      f.putBe32(1);
      writeEof(f);
    });
    expect(await rejection(unknown)).toMatchObject({ code: 'BAD_CONFIGURATION', offset: 17 });
  });
});

describe('StreamParser.openSection', () => {
  it('still names the section when its footer is bad', async () => {
    const { readerOf } = await import('./helpers.js');
    const { StreamParser } = await import('../src/grammar/stream-parser.js');
    const s = await bytesOf((f) => {
      prologue(f);
      writeSectionFull(f, TIMER);
      f.putBuffer(Buffer.alloc(24));
      writeSectionFooter(f, 9);
    });
    const r = readerOf(s);
    const p = new StreamParser(r);
    await p.next();
    await p.next();
    await p.next();
    await r.skip(24);
    await expect(p.next()).rejects.toMatchObject({ code: 'FOOTER_MISMATCH' });
    expect(p.openSection).toMatchObject({ idstr: 'timer', sectionId: 0 });
  });
});

describe('StreamParser.read (issue 17 item 10)', () => {
  it('gives a record without a promise when its header is buffered, and the same records as next()', async () => {
    const devices = Array.from({ length: 10 }, (_, i) => ({ name: `timer${i}`, instance_id: 0, size: 24 }));
    const bytes = await bytesOf((f) => {
      prologue(f);
      for (let i = 0; i < 10; i++) {
        writeSectionFull(f, { ...TIMER, sectionId: i, idstr: `timer${i}` });
        f.putBuffer(Buffer.alloc(24, i));
        writeSectionFooter(f, i);
      }
      writeEof(f);
      writeVmdesc(f, { page_size: 4096, devices }); // enough bytes after every record for its longest header
    });
    const r = readerOf(bytes);
    const p = new StreamParser(r);
    const types: string[] = [];
    let synchronous = 0;
    for (;;) {
      let rec = p.read();
      if (rec instanceof Promise) rec = await rec;
      else synchronous++;
      if (!rec) break;
      types.push(rec.type);
      if (rec.type === 'full') {
        // takeSkip: the body is buffered, so it is dropped without a promise either.
        expect(r.available).toBeGreaterThanOrEqual(24);
        r.takeSkip(24);
      }
    }
    expect(types).toEqual(['header', 'configuration', ...Array<string>(10).fill('full'), 'eof', 'vmdesc']);
    // The header, the configuration, EOF and the vmdesc come through promises; the ten sections
    // and the end of the stream (null) do not.
    expect(synchronous).toBe(11);
    expect(() => r.takeSkip(1)).toThrow(RangeError);
  });

  it('keeps the PART/END identity of section ids QEMU numbers in order, and of ids far out of order', async () => {
    const ids = [2, 0, 1, 0xffffffff, 3, 5, 4];
    const bytes = await bytesOf((f) => {
      prologue(f);
      for (const id of ids) {
        writeSectionStart(f, { sectionId: id, idstr: `s${id}`, instanceId: id & 7, versionId: 1 });
        writeSectionFooter(f, id);
      }
      for (const id of ids) {
        writeSectionEnd(f, id);
        writeSectionFooter(f, id);
      }
      writeEof(f);
    });
    const ends = (await parseAll(bytes)).filter((rec) => rec.type === 'end');
    expect(ends.map((rec) => (rec.type === 'end' ? [rec.sectionId, rec.idstr, rec.instanceId] : []))).toEqual(ids.map((id) => [id, `s${id}`, id & 7]));
  });

  it('gives a PART/END the identity of the last START or FULL with its id, kept as bytes (non-ASCII idstrs included)', async () => {
    const bytes = await bytesOf((f) => {
      prologue(f);
      writeSectionStart(f, { sectionId: 0, idstr: 'first', instanceId: 1, versionId: 2 });
      writeSectionFooter(f, 0);
      writeSectionStart(f, { sectionId: 0, idstr: 'second', instanceId: 3, versionId: 4 });
      writeSectionFooter(f, 0);
      writeSectionFull(f, { sectionId: 1, idstr: 'dévice', instanceId: 0xffffffff, versionId: 5 });
      writeSectionFooter(f, 1);
      for (const id of [0, 0, 1]) {
        writeSectionPart(f, id);
        writeSectionFooter(f, id);
      }
      writeSectionEnd(f, 1);
      writeSectionFooter(f, 1);
      writeEof(f);
    });
    const later = (await parseAll(bytes)).filter((rec) => rec.type === 'part' || rec.type === 'end');
    expect(later.map((rec) => (rec.type === 'part' || rec.type === 'end' ? [rec.type, rec.sectionId, rec.idstr, rec.instanceId, rec.versionId] : []))).toEqual([
      ['part', 0, 'second', 3, 4],
      ['part', 0, 'second', 3, 4],
      ['part', 1, 'dévice', 0xffffffff, 5],
      ['end', 1, 'dévice', 0xffffffff, 5],
    ]);
  });

  it('skips the vmdesc text when told not to keep it, and still checks its length', async () => {
    const bytes = await goodStream();
    const skipBodies = async (rec: StreamRecord, r: QemuFileReader): Promise<void> => {
      if (rec.type === 'start' || rec.type === 'full' || rec.type === 'part' || rec.type === 'end') await r.skip(bodySize(rec.idstr));
    };
    const kept = (await parseAll(bytes, skipBodies)).at(-1);
    const skipped = (await parseAll(bytes, skipBodies, { keepVmdescJson: false })).at(-1);
    expect(kept).toMatchObject({ type: 'vmdesc', json: '{"page_size": 4096, "devices": []}' });
    expect(skipped).toEqual({ type: 'vmdesc', offset: kept?.offset, json: '' });
    await expect(parseAll(bytes.subarray(0, bytes.length - 1), skipBodies, { keepVmdescJson: false })).rejects.toBeInstanceOf(StreamTruncatedError);
  });
});

describe('StreamParser.readHeaderAndConfiguration', () => {
  it('stops before the first record, with or without a configuration, so the record reader reads every record after them', async () => {
    const withConfiguration = readerOf(await goodStream());
    const p = new StreamParser(withConfiguration);
    expect(await p.readHeaderAndConfiguration()).toMatchObject({ type: 'configuration', offset: 8, machine: 'none' });
    const first = p.recordReader.read();
    if (first) await first;
    expect(p.recordReader.record).toMatchObject({ type: 'start', sectionId: 7 });

    const bare = readerOf(
      await bytesOf((f) => {
        writeHeader(f);
        writeSectionFull(f, TIMER);
        f.putBuffer(Buffer.alloc(24));
        writeSectionFooter(f, 0);
        writeEof(f);
      }),
    );
    const q = new StreamParser(bare, { requireConfiguration: false });
    expect(await q.readHeaderAndConfiguration()).toBeUndefined();
    expect(bare.offset).toBe(8);
    const next = q.recordReader.read();
    if (next) await next;
    expect(q.recordReader.record).toMatchObject({ type: 'full', offset: 8, sectionId: 0 });
    await expect(new StreamParser(readerOf(await bytesOf((f) => writeHeader(f)))).readHeaderAndConfiguration()).rejects.toBeInstanceOf(StreamError);
  });
});
