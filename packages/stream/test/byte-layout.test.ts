// Byte layouts checked against the facts in docs/design/stream-format.md (§1, §2, §6, §7),
// not against our own decoder: the expected bytes are written out from that note.
import { describe, expect, it } from 'vitest';
import { QemuFileWriter } from '../src/file/qemu-file-writer.js';
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
import { parseVmDescription } from '../src/grammar/vmdesc.js';
import { bytesOf, hex } from './helpers.js';
import { vectorBytes } from './fixtures/vectors.js';

describe('stream writer byte layouts (docs/design/stream-format.md)', () => {
  it('writes the minimal 18-byte stream QEMU 7.2 accepts (§7)', async () => {
    const bytes = await bytesOf((f) => {
      writeHeader(f);
      writeConfiguration(f, 'none');
      writeEof(f);
    });
    expect(bytes).toEqual(hex('51 45 56 4d 00 00 00 03 07 00 00 00 04 6e 6f 6e 65 00'));
  });

  it('writes a vmdesc as 0x06, be32 length, JSON (§7: 54-byte stream)', async () => {
    const bytes = await bytesOf((f) => {
      writeHeader(f);
      writeConfiguration(f, 'none');
      writeEof(f);
      writeVmdesc(f, '{"page_size":4096,"devices":[]}');
    });
    expect(bytes.length).toBe(54);
    expect(bytes.subarray(18, 23)).toEqual(hex('06 0000001f'));
    expect(bytes.subarray(23).toString()).toBe('{"page_size":4096,"devices":[]}');
  });

  it('lays out START, END, FULL and footers as in the annotated none-paused dump (§6)', async () => {
    const start = await bytesOf((f) => writeSectionStart(f, { sectionId: 2, idstr: 'ram', instanceId: 0, versionId: 4 }));
    expect(start).toEqual(hex('01 00000002 03 72616d 00000000 00000004'));
    const footer = await bytesOf((f) => writeSectionFooter(f, 2));
    expect(footer).toEqual(hex('7e 00000002'));
    const end = await bytesOf((f) => writeSectionEnd(f, 2));
    expect(end).toEqual(hex('03 00000002'));
    const part = await bytesOf((f) => writeSectionPart(f, 0x12345678));
    expect(part).toEqual(hex('02 12345678'));
    const full = await bytesOf((f) => writeSectionFull(f, { sectionId: 0, idstr: 'timer', instanceId: 0, versionId: 2 }));
    expect(full).toEqual(hex('04 00000000 05 74696d6572 00000000 00000002'));
  });

  it('writes COMMAND as 0x08, be16 cmd, be16 len, payload (§2)', async () => {
    const ping = await bytesOf((f) => writeCommand(f, 2, hex('00000001')));
    expect(ping).toEqual(hex('08 0002 0004 00000001'));
  });

  it('rebuilds QEMU\'s none-running.mig byte for byte', async () => {
    const vector = vectorBytes('none-running');
    const timerBody = vector.subarray(0x5c, 0x5c + 24);
    const vmdescJson = vector.subarray(0x105).toString('utf8');
    const ours = await bytesOf((f: QemuFileWriter) => {
      writeHeader(f);
      writeConfiguration(f, 'none');
      writeSectionStart(f, { sectionId: 2, idstr: 'ram', instanceId: 0, versionId: 4 });
      f.putBe64(0x04n); // total 0 | MEM_SIZE
      f.putBe64(0x10n); // EOS
      writeSectionFooter(f, 2);
      writeSectionEnd(f, 2);
      f.putBe64(0x10n);
      writeSectionFooter(f, 2);
      writeSectionFull(f, { sectionId: 0, idstr: 'timer', instanceId: 0, versionId: 2 });
      f.putBuffer(timerBody);
      writeSectionFooter(f, 0);
      writeSectionFull(f, { sectionId: 4, idstr: 'globalstate', instanceId: 0, versionId: 1 });
      const runstate = Buffer.alloc(100);
      runstate.write('running');
      f.putBe32('running'.length + 1);
      f.putBuffer(runstate);
      writeSectionFooter(f, 4);
      writeEof(f);
      // The JSON through our QEMU-style serializer, from the parsed document.
      writeVmdesc(f, parseVmDescription(vmdescJson));
    });
    expect(ours.length).toBe(747);
    expect(ours.equals(vector)).toBe(true);
  });

  it('rebuilds QEMU 10.0\'s none-running.mig byte for byte: SWITCHOVER_START before END, ids 1 and 3, 10.0\'s globalstate, the vmdesc\'s configuration', async () => {
    const vector = vectorBytes('none-running', '10.0');
    const timerBody = vector.subarray(0x61, 0x61 + 24);
    const vmdescJson = vector.subarray(0x10a).toString('utf8');
    const vmdesc = parseVmDescription(vmdescJson);
    expect(Object.keys(vmdesc)).toEqual(['configuration', 'page_size', 'devices']);
    const ours = await bytesOf((f: QemuFileWriter) => {
      writeHeader(f);
      writeConfiguration(f, 'none');
      writeSectionStart(f, { sectionId: 1, idstr: 'ram', instanceId: 0, versionId: 4 });
      f.putBe64(0x04n);
      f.putBe64(0x10n);
      writeSectionFooter(f, 1);
      writeCommand(f, 11); // SWITCHOVER_START, no payload
      writeSectionEnd(f, 1);
      f.putBe64(0x10n);
      writeSectionFooter(f, 1);
      writeSectionFull(f, { sectionId: 0, idstr: 'timer', instanceId: 0, versionId: 2 });
      f.putBuffer(timerBody);
      writeSectionFooter(f, 0);
      writeSectionFull(f, { sectionId: 3, idstr: 'globalstate', instanceId: 0, versionId: 1 });
      // runstate[32], has_vm_was_suspended = 1, vm_was_suspended = 0, unused[66]
      const body = Buffer.alloc(100);
      body.write('running');
      body[32] = 1;
      f.putBe32('running'.length + 1);
      f.putBuffer(body);
      writeSectionFooter(f, 3);
      writeEof(f);
      writeVmdesc(f, vmdesc);
    });
    expect(ours.length).toBe(1089);
    expect(ours.equals(vector)).toBe(true);
  });
});

describe('big-endian primitives', () => {
  it('puts the VFIO markers (above 2^53) exactly', async () => {
    const bytes = await bytesOf((f) => {
      f.putBe64(0xffffffffef100001n);
      f.putBe64(0xffffffffef100004n);
    });
    expect(bytes).toEqual(hex('ffffffffef100001 ffffffffef100004'));
  });

  it('puts 16/32-bit values big-endian and counted strings with a u8 length', async () => {
    const bytes = await bytesOf((f) => {
      f.putBe16(0x0102);
      f.putBe32(0xdeadbeef);
      f.putBe32(-1);
      f.putCountedString('vfio');
      f.putBe64Number(2 ** 53 - 1);
    });
    expect(bytes).toEqual(hex('0102 deadbeef ffffffff 04 7666696f 001fffffffffffff'));
  });

  it('refuses a counted string over 255 bytes and a non-safe putBe64Number', async () => {
    const f = new QemuFileWriter({ writev: () => undefined, close: async () => undefined, shutdown: () => undefined });
    expect(() => f.putCountedString('x'.repeat(256))).toThrow(RangeError);
    expect(() => f.putBe64Number(2 ** 53)).toThrow(RangeError);
    expect(() => f.putBe64Number(-1)).toThrow(RangeError);
  });
});

describe('ByteArrayWriter', () => {
  it('encodes grammar elements to the same bytes as a QemuFileWriter', async () => {
    const { ByteArrayWriter } = await import('../src/file/byte-sink.js');
    const s = { sectionId: 0x01020304, idstr: '0000:00:03.0/vfio', instanceId: 7, versionId: 1 };
    const b = new ByteArrayWriter(2);
    writeSectionStart(b, s);
    writeSectionFooter(b, s.sectionId);
    writeCommand(b, 2, hex('00000001'));
    const viaFile = await bytesOf((f) => {
      writeSectionStart(f, s);
      writeSectionFooter(f, s.sectionId);
      writeCommand(f, 2, hex('00000001'));
    });
    expect(b.bytes()).toEqual(viaFile);
    expect(b.bytes()).toEqual(hex('01 01020304 11 303030303a30303a30332e302f7666696f 00000007 00000001 7e 01020304 08 0002 0004 00000001'));
  });
});

describe('section footer in a buffer (stream-format.md: 0x7e, be32 section id)', () => {
  it('isSectionFooterAt finds exactly the footer of the named section', async () => {
    const { isSectionFooterAt, SECTION_FOOTER_SIZE } = await import('../src/grammar/section-footer.js');
    const bytes = Uint8Array.from([0xaa, 0x7e, 0x00, 0x00, 0x01, 0x02, 0x00]);
    expect(SECTION_FOOTER_SIZE).toBe(5);
    expect(isSectionFooterAt(bytes, 1, 0x102)).toBe(true);
    expect(isSectionFooterAt(bytes, 1, 0x103)).toBe(false); // another section's id
    expect(isSectionFooterAt(bytes, 0, 0x102)).toBe(false); // no marker there
    expect(isSectionFooterAt(bytes, 3, 0x102)).toBe(false); // runs past the end
    expect(isSectionFooterAt(Uint8Array.from([0x7e, 0xff, 0xff, 0xff, 0xff]), 0, 0xffffffff)).toBe(true); // unsigned id
  });
});
