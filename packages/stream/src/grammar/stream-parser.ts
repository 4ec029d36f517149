import { StreamFormatError } from '../errors.js';
import type { QemuFileReader } from '../file/qemu-file-reader.js';
import {
  type CommandRule,
  QEMU_7_2_COMMANDS,
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  QEMU_VM_FILE_VERSION_COMPAT,
  RecordType,
} from './constants.js';
import type {
  ConfigurationRecord,
  ConfigurationSubsection,
  SectionIdentity,
  SectionRecord,
  StreamRecord,
} from './records.js';

/** Options of a {@link StreamParser}. */
export interface StreamParserOptions {
  /** Require a configuration section after the header (QEMU's `send-configuration`, default true). */
  requireConfiguration?: boolean;
  /** Expect a footer after every section body (QEMU's `send-section-footer`, default true). */
  sectionFooters?: boolean;
  /** Commands accepted, with their length rules (default: QEMU 7.2's). */
  commands?: ReadonlyMap<number, CommandRule>;
  /** Read a VMDESCRIPTION after EOF when one is there (default true). */
  expectVmdesc?: boolean;
  /** Largest VMDESCRIPTION accepted (default 64 MiB). */
  maxVmdescBytes?: number;
  /** Largest machine-type name accepted (default 256 bytes). */
  maxMachineNameBytes?: number;
}

type Phase = 'header' | 'configuration' | 'records' | 'after-eof' | 'done';

/** Capability names are counted strings; this many at most in a configuration. */
const MAX_CAPABILITIES = 256;

/**
 * A pull parser for QEMU's migration stream. Each `next()` yields one record with its
 * byte offset. After a section record, the section's owner reads the body from the
 * reader; the following `next()` checks the footer before reading on.
 *
 * It rejects, with a {@link StreamFormatError} or a truncation error naming the offset,
 * everything QEMU 7.2 rejects at the framing level.
 */
export class StreamParser {
  private phase: Phase = 'header';
  private pendingFooter: SectionRecord | undefined;
  private readonly sections = new Map<number, SectionIdentity>();
  private readonly options: Required<StreamParserOptions>;
  /** Non-fatal findings, as QEMU would print them (e.g. a missing vmdesc). */
  readonly warnings: string[] = [];

  /** @param reader the stream */
  constructor(
    readonly reader: QemuFileReader,
    options: StreamParserOptions = {},
  ) {
    this.options = {
      requireConfiguration: options.requireConfiguration ?? true,
      sectionFooters: options.sectionFooters ?? true,
      commands: options.commands ?? QEMU_7_2_COMMANDS,
      expectVmdesc: options.expectVmdesc ?? true,
      maxVmdescBytes: options.maxVmdescBytes ?? 64 * 1024 * 1024,
      maxMachineNameBytes: options.maxMachineNameBytes ?? 256,
    };
  }

  /** The section last yielded whose footer is still to be read, if any. */
  get openSection(): SectionRecord | undefined {
    return this.pendingFooter;
  }

  /** Identity of a section id seen in a START or FULL record. */
  sectionIdentity(sectionId: number): SectionIdentity | undefined {
    return this.sections.get(sectionId);
  }

  /** The next record, or null once the stream is over. */
  async next(): Promise<StreamRecord | null> {
    switch (this.phase) {
      case 'header':
        return this.readHeader();
      case 'configuration':
        return this.readConfigurationOrRecord();
      case 'records':
        return this.readRecord();
      case 'after-eof':
        return this.readVmdesc();
      case 'done':
        return null;
    }
  }

  private async readHeader(): Promise<StreamRecord> {
    const r = this.reader;
    const offset = r.offset;
    await r.ensure(4, 'the file magic');
    const magic = r.takeBe32();
    if (magic !== QEMU_VM_FILE_MAGIC) {
      throw new StreamFormatError('BAD_MAGIC', offset, `not a migration stream (magic 0x${magic.toString(16).padStart(8, '0')})`);
    }
    const version = await r.getBe32('the file version');
    if (version === QEMU_VM_FILE_VERSION_COMPAT) {
      throw new StreamFormatError('OBSOLETE_VERSION', offset + 4, 'SaveVM v2 format is obsolete');
    }
    if (version !== QEMU_VM_FILE_VERSION) {
      throw new StreamFormatError('UNSUPPORTED_VERSION', offset + 4, `unsupported migration stream version ${version}`);
    }
    this.phase = 'configuration';
    return { type: 'header', offset, version };
  }

  private async readConfigurationOrRecord(): Promise<StreamRecord | null> {
    const r = this.reader;
    const offset = r.offset;
    const type = await r.getU8('the configuration section');
    this.phase = 'records';
    if (type === RecordType.CONFIGURATION) return this.readConfiguration(offset);
    if (this.options.requireConfiguration) {
      throw new StreamFormatError('MISSING_CONFIGURATION', offset, `configuration section missing (found type 0x${type.toString(16)})`);
    }
    return this.readRecordOfType(type, offset);
  }

  private async readConfiguration(offset: number): Promise<ConfigurationRecord> {
    const r = this.reader;
    const len = await r.getBe32('the machine name length');
    if (len > this.options.maxMachineNameBytes) {
      throw new StreamFormatError('BAD_CONFIGURATION', offset + 1, `machine name length ${len} exceeds ${this.options.maxMachineNameBytes}`);
    }
    const machine = (await r.getBytes(len, 'the machine name')).toString('utf8');
    const subsections: ConfigurationSubsection[] = [];
    while ((await r.peekU8()) === RecordType.SUBSECTION) {
      subsections.push(await this.readConfigurationSubsection());
    }
    return { type: 'configuration', offset, machine, subsections };
  }

  private async readConfigurationSubsection(): Promise<ConfigurationSubsection> {
    const r = this.reader;
    const offset = r.offset;
    await r.getU8();
    const name = await r.getCountedString('a configuration subsection name');
    const version = await r.getBe32('a configuration subsection version');
    switch (name) {
      case 'configuration/target-page-bits':
        return { name, version, targetPageBits: await r.getBe32('target-page-bits') };
      case 'configuration/capabilities': {
        const count = await r.getBe32('the capability count');
        if (count > MAX_CAPABILITIES) {
          throw new StreamFormatError('BAD_CONFIGURATION', offset, `capability count ${count} exceeds ${MAX_CAPABILITIES}`);
        }
        const capabilities: string[] = [];
        for (let i = 0; i < count; i++) capabilities.push(await r.getCountedString('a capability name'));
        return { name, version, capabilities };
      }
      case 'configuration/uuid':
        return { name, version, uuid: await r.getBytes(16, 'the uuid') };
      default:
        throw new StreamFormatError('BAD_CONFIGURATION', offset, `unknown configuration subsection "${name}"`);
    }
  }

  private async readFooter(section: SectionRecord): Promise<void> {
    const r = this.reader;
    const offset = r.offset;
    const marker = await r.getU8(`the section footer for ${section.idstr}`);
    if (marker !== RecordType.SECTION_FOOTER) {
      throw new StreamFormatError('MISSING_FOOTER', offset, `missing section footer for ${section.idstr} (section ${section.sectionId}; found 0x${marker.toString(16)})`);
    }
    const id = await r.getBe32(`the section footer for ${section.idstr}`);
    if (id !== section.sectionId) {
      throw new StreamFormatError(
        'FOOTER_MISMATCH',
        offset,
        `mismatched section id in footer for ${section.idstr} - read 0x${id.toString(16)} expected 0x${section.sectionId.toString(16)}`,
      );
    }
  }

  private async readRecord(): Promise<StreamRecord | null> {
    if (this.pendingFooter) {
      // Cleared only once the footer checked out, so `openSection` names the section on error.
      if (this.options.sectionFooters) await this.readFooter(this.pendingFooter);
      this.pendingFooter = undefined;
    }
    const offset = this.reader.offset;
    const type = await this.reader.getU8('a record type');
    return this.readRecordOfType(type, offset);
  }

  private async readRecordOfType(type: number, offset: number): Promise<StreamRecord | null> {
    const r = this.reader;
    switch (type) {
      case RecordType.SECTION_START:
      case RecordType.SECTION_FULL: {
        const sectionId = await r.getBe32('a section id');
        const idstr = await r.getCountedString('a section idstr');
        await r.ensure(8, `the instance and version of ${idstr}`);
        const instanceId = r.takeBe32();
        const versionId = r.takeBe32();
        const identity = { sectionId, idstr, instanceId, versionId };
        this.sections.set(sectionId, identity);
        const record: SectionRecord = {
          type: type === RecordType.SECTION_START ? 'start' : 'full',
          offset,
          bodyOffset: r.offset,
          ...identity,
        };
        this.pendingFooter = record;
        return record;
      }
      case RecordType.SECTION_PART:
      case RecordType.SECTION_END: {
        const sectionId = await r.getBe32('a section id');
        const identity = this.sections.get(sectionId);
        if (!identity) throw new StreamFormatError('UNKNOWN_SECTION', offset, `unknown savevm section ${sectionId}`);
        const record: SectionRecord = {
          type: type === RecordType.SECTION_PART ? 'part' : 'end',
          offset,
          bodyOffset: r.offset,
          ...identity,
          sectionId,
        };
        this.pendingFooter = record;
        return record;
      }
      case RecordType.COMMAND: {
        await r.ensure(4, 'a command header');
        const command = r.takeBe16();
        const len = r.takeBe16();
        const rule = this.options.commands.get(command);
        if (!rule) {
          throw new StreamFormatError('UNKNOWN_COMMAND', offset, `MIG_CMD 0x${command.toString(16)} unknown (len 0x${len.toString(16)})`);
        }
        if (rule.lengths && !rule.lengths.includes(len)) {
          throw new StreamFormatError('BAD_COMMAND_LENGTH', offset, `${rule.name} received with bad length - expecting ${rule.lengths.join(' or ')}, got ${len}`);
        }
        const payload = await r.getBytes(len, `the ${rule.name} payload`);
        return { type: 'command', offset, command, name: rule.name, payload };
      }
      case RecordType.EOF:
        this.phase = 'after-eof';
        return { type: 'eof', offset };
      default:
        throw new StreamFormatError('UNKNOWN_RECORD', offset, `unknown savevm section type ${type}`);
    }
  }

  private async readVmdesc(): Promise<StreamRecord | null> {
    this.phase = 'done';
    if (!this.options.expectVmdesc) return null;
    const r = this.reader;
    const offset = r.offset;
    const type = await r.peekU8();
    if (type === undefined) {
      this.warnings.push('Expected vmdescription section, but got 0');
      return null;
    }
    if (type !== RecordType.VMDESCRIPTION) {
      this.warnings.push(`Expected vmdescription section, but got ${type}`);
      return null;
    }
    await r.ensure(5, 'the vmdescription length');
    r.takeU8();
    const len = r.takeBe32();
    if (len > this.options.maxVmdescBytes) {
      throw new StreamFormatError('TOO_LARGE', offset + 1, `vmdescription of ${len} bytes exceeds ${this.options.maxVmdescBytes}`);
    }
    const json = (await r.getBytes(len, 'the vmdescription')).toString('utf8');
    return { type: 'vmdesc', offset, json };
  }
}
