import type { BigEndianPuts } from '../file/byte-sink.js';
import { MAX_IDSTR_LENGTH, QEMU_VM_FILE_MAGIC, QEMU_VM_FILE_VERSION, RecordType } from './constants.js';
import { toQemuJson } from './qemu-json.js';
import type { SectionIdentity } from './records.js';
import type { VmDescription } from './vmdesc.js';

/*
 * Each function writes one element of the grammar to anything with big-endian puts: a
 * `QemuFileWriter`, or a `ByteArrayWriter` to encode an element once and reuse its bytes.
 */

/** Writes the file header: magic "QEVM" and version 3. */
export function writeHeader(f: BigEndianPuts): void {
  f.putBe32(QEMU_VM_FILE_MAGIC);
  f.putBe32(QEMU_VM_FILE_VERSION);
}

/**
 * Writes the configuration section: 0x07, be32 length, the machine-type name. QEMU's
 * loader accepts a name that is a prefix of its own. Subsections are not written.
 */
export function writeConfiguration(f: BigEndianPuts, machine: string): void {
  const name = Buffer.from(machine, 'utf8');
  f.putU8(RecordType.CONFIGURATION);
  f.putBe32(name.length);
  f.putBuffer(name);
}

function checkIdstr(idstr: string): void {
  if (Buffer.byteLength(idstr, 'utf8') > MAX_IDSTR_LENGTH) {
    throw new RangeError(`idstr "${idstr.slice(0, 40)}…" is longer than ${MAX_IDSTR_LENGTH} bytes`);
  }
}

/** Writes a SECTION_START header (the body and a footer follow). */
export function writeSectionStart(f: BigEndianPuts, section: SectionIdentity): void {
  writeFullHeader(f, RecordType.SECTION_START, section);
}

/** Writes a SECTION_FULL header (the body and a footer follow). */
export function writeSectionFull(f: BigEndianPuts, section: SectionIdentity): void {
  writeFullHeader(f, RecordType.SECTION_FULL, section);
}

function writeFullHeader(f: BigEndianPuts, type: number, s: SectionIdentity): void {
  checkIdstr(s.idstr);
  f.putU8(type);
  f.putBe32(s.sectionId);
  f.putCountedString(s.idstr);
  f.putBe32(s.instanceId);
  f.putBe32(s.versionId);
}

/** Writes a SECTION_PART header. */
export function writeSectionPart(f: BigEndianPuts, sectionId: number): void {
  f.putU8(RecordType.SECTION_PART);
  f.putBe32(sectionId);
}

/** Writes a SECTION_END header. */
export function writeSectionEnd(f: BigEndianPuts, sectionId: number): void {
  f.putU8(RecordType.SECTION_END);
  f.putBe32(sectionId);
}

/** Writes a section footer: 0x7e and the section id. */
export function writeSectionFooter(f: BigEndianPuts, sectionId: number): void {
  f.putU8(RecordType.SECTION_FOOTER);
  f.putBe32(sectionId);
}

/** Writes a COMMAND record: be16 command, be16 length, payload. */
export function writeCommand(f: BigEndianPuts, command: number, payload: Uint8Array = new Uint8Array(0)): void {
  if (payload.length > 0xffff) throw new RangeError(`command payload of ${payload.length} bytes exceeds 65535`);
  f.putU8(RecordType.COMMAND);
  f.putBe16(command);
  f.putBe16(payload.length);
  f.putBuffer(payload);
}

/** Writes the EOF byte that ends the device state. */
export function writeEof(f: BigEndianPuts): void {
  f.putU8(RecordType.EOF);
}

/** Writes the VMDESCRIPTION record (after EOF), laid out as QEMU's JSON writer does. */
export function writeVmdesc(f: BigEndianPuts, description: VmDescription | string): void {
  const json = Buffer.from(typeof description === 'string' ? description : toQemuJson(description), 'utf8');
  f.putU8(RecordType.VMDESCRIPTION);
  f.putBe32(json.length);
  f.putBuffer(json);
}
