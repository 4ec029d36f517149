import { StreamFormatError } from '../errors.js';
import type { QemuFileReader } from '../file/qemu-file-reader.js';
import { type CommandRule, RecordType } from './constants.js';

/** Bytes a record header can take at most: footer 5 + type 1 + id 4 + idstr 1+255 + 8. */
const LONGEST_RECORD_HEADER = 274;

/** The record just read by a {@link RecordReader}; one object, overwritten by every read. */
export interface RecordHeader {
  /** Record kind. */
  type: 'start' | 'full' | 'part' | 'end' | 'command' | 'eof';
  /** Byte offset of the record. */
  offset: number;
  /** Byte offset of the body (sections). */
  bodyOffset: number;
  /** Section id (sections). */
  sectionId: number;
  /**
   * The buffer that holds the idstr's bytes at `[idstrStart, idstrEnd)` (START/FULL), valid
   * until the next read: no view is made per record (see {@link idstrOf}).
   */
  idstrBytes: Buffer;
  /** Where the idstr starts in {@link idstrBytes}. */
  idstrStart: number;
  /** Where the idstr ends in {@link idstrBytes}. */
  idstrEnd: number;
  /** Instance id (START/FULL). */
  instanceId: number;
  /** Version id (START/FULL). */
  versionId: number;
  /** Command number (commands). */
  command: number;
  /** Command name (commands). */
  commandName: string;
  /** Command payload (commands). */
  commandPayload: Uint8Array;
}

/** The idstr of a START/FULL record header, decoded (UTF-8). */
export function idstrOf(h: RecordHeader): string {
  // No encoding argument: UTF-8 by the shortest path.
  return h.idstrBytes.toString(undefined, h.idstrStart, h.idstrEnd);
}

/** What follows EOF: the VMDESCRIPTION (when there is one) or QEMU's warning. */
export type AfterEof =
  | {
      /** A VMDESCRIPTION record followed EOF. */
      readonly kind: 'vmdesc';
      /** Byte offset of its 0x06 type byte. */
      readonly offset: number;
      /** The JSON text, or undefined when the caller asked to skip it. */
      readonly json: string | undefined;
    }
  | {
      /** No VMDESCRIPTION: nothing or some other byte followed EOF (QEMU only warns). */
      readonly kind: 'missing';
      /** QEMU's warning text, e.g. `Expected vmdescription section, but got 0`. */
      readonly warning: string;
    };

/**
 * QEMU's top-level records after the configuration section (docs/design/stream-format.md §2), one
 * at a time, with the footer of the previous section checked before the next record.
 *
 * This is the engine under {@link StreamParser} and the destination driver's hot loop: it
 * runs once per section and must be cheap, so when the whole record header is already
 * buffered it is decoded synchronously into one reused {@link RecordHeader} (no promise,
 * no allocation); only otherwise does it await the reader. After a section record, the
 * caller consumes the body and calls `expectFooter` (or not, when footers are off).
 */
export class RecordReader {
  /** The current record. */
  readonly record: RecordHeader = {
    type: 'eof',
    offset: 0,
    bodyOffset: 0,
    sectionId: 0,
    idstrBytes: Buffer.alloc(0),
    idstrStart: 0,
    idstrEnd: 0,
    instanceId: 0,
    versionId: 0,
    command: 0,
    commandName: '',
    commandPayload: new Uint8Array(0),
  };
  private footerDue = false;
  private footerSectionId = 0;
  private footerIdstr = '';
  private idstrLength = 0;

  /**
   * @param f the stream
   * @param commands accepted commands and their lengths
   * @param footers whether sections carry footers (QEMU's `send-section-footer`)
   */
  constructor(
    private readonly f: QemuFileReader,
    private readonly commands: ReadonlyMap<number, CommandRule>,
    private readonly footers = true,
  ) {}

  /** Notes that a section body is being consumed, so its footer is checked on the next read. */
  expectFooter(sectionId: number, idstr: string): void {
    this.footerDue = this.footers;
    this.footerSectionId = sectionId;
    this.footerIdstr = idstr;
  }

  /** Reads the next record into `record` (checking the previous section's footer first). */
  read(): void | Promise<void> {
    const f = this.f;
    if (f.available < LONGEST_RECORD_HEADER) return this.readSlowly();
    if (this.footerDue) this.checkFooter();
    const offset = f.offset;
    const type = f.takeU8();
    if (type === RecordType.SECTION_START || type === RecordType.SECTION_FULL) {
      this.takeFullHeaderStart(type, offset);
      this.takeFullHeaderEnd();
    } else if (type === RecordType.SECTION_PART || type === RecordType.SECTION_END) {
      this.takeShortHeader(type, offset);
    } else {
      return this.readOther(type, offset);
    }
  }

  /** The same as `read`, awaiting the reader for every piece. */
  private async readSlowly(): Promise<void> {
    const f = this.f;
    if (this.footerDue) {
      await f.ensure(1, `the section footer for ${this.footerIdstr}`);
      this.checkFooterMarker();
      await f.ensure(4, `the section footer for ${this.footerIdstr}`);
      this.checkFooterId();
    }
    const offset = f.offset;
    await f.ensure(1, 'a record type');
    const type = f.takeU8();
    if (type === RecordType.SECTION_START || type === RecordType.SECTION_FULL) {
      await f.ensure(5, 'a section id and idstr length');
      const len = this.takeFullHeaderStart(type, offset);
      await f.ensure(len + 8, 'a section idstr, instance and version');
      this.takeFullHeaderEnd();
    } else if (type === RecordType.SECTION_PART || type === RecordType.SECTION_END) {
      await f.ensure(4, 'a section id');
      this.takeShortHeader(type, offset);
    } else {
      await this.readOther(type, offset);
    }
  }

  private checkFooter(): void {
    this.checkFooterMarker();
    this.checkFooterId();
  }

  private checkFooterMarker(): void {
    const f = this.f;
    const offset = f.offset;
    const marker = f.takeU8();
    if (marker !== RecordType.SECTION_FOOTER) {
      this.footerDue = false;
      throw new StreamFormatError(
        'MISSING_FOOTER',
        offset,
        `missing section footer for ${this.footerIdstr} (section ${this.footerSectionId}; found 0x${marker.toString(16)})`,
      );
    }
  }

  private checkFooterId(): void {
    const f = this.f;
    this.footerDue = false;
    const id = f.takeBe32();
    if (id !== this.footerSectionId) {
      throw new StreamFormatError(
        'FOOTER_MISMATCH',
        f.offset - 5,
        `mismatched section id in footer for ${this.footerIdstr} - read 0x${id.toString(16)} expected 0x${this.footerSectionId.toString(16)}`,
      );
    }
  }

  /** Type, section id and idstr length of a START/FULL; returns the idstr length. */
  private takeFullHeaderStart(type: number, offset: number): number {
    const r = this.record;
    r.type = type === RecordType.SECTION_START ? 'start' : 'full';
    r.offset = offset;
    r.sectionId = this.f.takeBe32();
    this.idstrLength = this.f.takeU8();
    return this.idstrLength;
  }

  /** idstr, instance and version of a START/FULL. */
  private takeFullHeaderEnd(): void {
    const r = this.record;
    const f = this.f;
    const n = this.idstrLength;
    r.idstrStart = f.takeAt(n);
    r.idstrEnd = r.idstrStart + n;
    r.idstrBytes = f.buffered;
    r.instanceId = f.takeBe32();
    r.versionId = f.takeBe32();
    r.bodyOffset = f.offset;
  }

  private takeShortHeader(type: number, offset: number): void {
    const r = this.record;
    r.type = type === RecordType.SECTION_PART ? 'part' : 'end';
    r.offset = offset;
    r.sectionId = this.f.takeBe32();
    r.bodyOffset = this.f.offset;
  }

  /** Commands, EOF, and record types QEMU rejects. */
  private async readOther(type: number, offset: number): Promise<void> {
    const f = this.f;
    const r = this.record;
    r.offset = offset;
    if (type === RecordType.EOF) {
      r.type = 'eof';
      return;
    }
    if (type !== RecordType.COMMAND) {
      throw new StreamFormatError('UNKNOWN_RECORD', offset, `unknown savevm section type ${type}`);
    }
    await f.ensure(4, 'a command header');
    const command = f.takeBe16();
    const len = f.takeBe16();
    const rule = this.commands.get(command);
    if (!rule) {
      throw new StreamFormatError('UNKNOWN_COMMAND', offset, `MIG_CMD 0x${command.toString(16)} unknown (len 0x${len.toString(16)})`);
    }
    if (rule.lengths && !rule.lengths.includes(len)) {
      throw new StreamFormatError('BAD_COMMAND_LENGTH', offset, `${rule.name} received with bad length - expecting ${rule.lengths.join(' or ')}, got ${len}`);
    }
    r.commandPayload = await f.getBytes(len, `the ${rule.name} payload`);
    r.type = 'command';
    r.command = command;
    r.commandName = rule.name;
  }

  /**
   * After EOF: the VMDESCRIPTION, read (`keep`) or skipped, when there is one; QEMU only
   * warns when another byte or nothing follows.
   * @param maxBytes largest vmdesc accepted; a longer one is refused before it is read
   */
  async readAfterEof(keep: boolean, maxBytes: number): Promise<AfterEof> {
    const f = this.f;
    const type = await f.peekU8();
    if (type !== RecordType.VMDESCRIPTION) return { kind: 'missing', warning: `Expected vmdescription section, but got ${type ?? 0}` };
    const offset = f.offset;
    await f.ensure(5, 'the vmdescription length');
    f.takeU8();
    const len = f.takeBe32();
    if (len > maxBytes) {
      throw new StreamFormatError('TOO_LARGE', offset + 1, `vmdescription of ${len} bytes exceeds ${maxBytes}`);
    }
    if (!keep) {
      await f.skip(len, 'the vmdescription');
      return { kind: 'vmdesc', offset, json: undefined };
    }
    return { kind: 'vmdesc', offset, json: (await f.getBytes(len, 'the vmdescription')).toString('utf8') };
  }
}
