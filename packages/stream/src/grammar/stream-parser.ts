import { StreamFormatError } from '../errors.js';
import type { QemuFileReader } from '../file/qemu-file-reader.js';
import {
  type CommandRule,
  NEWEST_COMMANDS,
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  QEMU_VM_FILE_VERSION_COMPAT,
  RecordType,
} from './constants.js';
import { RecordReader, idstrOf } from './record-reader.js';
import { MAX_VMDESC_BYTES } from './vmdesc.js';
import { SectionTable } from './section-table.js';
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
  /**
   * Commands accepted, with their length rules (default: {@link NEWEST_COMMANDS}, the newest
   * QEMU's; `QEMU_7_2_COMMANDS` refuses SWITCHOVER_START as QEMU 7.2 does).
   */
  commands?: ReadonlyMap<number, CommandRule>;
  /** Read a VMDESCRIPTION after EOF when one is there (default true). */
  expectVmdesc?: boolean;
  /** Largest VMDESCRIPTION accepted (default {@link MAX_VMDESC_BYTES}, 64 MiB). */
  maxVmdescBytes?: number;
  /**
   * Keep the VMDESCRIPTION's JSON text in its record (default true); false skips its bytes
   * and yields the record with an empty `json` (for a reader that has the text already).
   */
  keepVmdescJson?: boolean;
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
  private readonly sections = new SectionTable();
  private readonly options: Required<StreamParserOptions>;
  private readonly records: RecordReader;
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
      commands: options.commands ?? NEWEST_COMMANDS,
      expectVmdesc: options.expectVmdesc ?? true,
      maxVmdescBytes: options.maxVmdescBytes ?? MAX_VMDESC_BYTES,
      keepVmdescJson: options.keepVmdescJson ?? true,
      maxMachineNameBytes: options.maxMachineNameBytes ?? 256,
    };
    this.records = new RecordReader(reader, this.options.commands, this.options.sectionFooters);
  }

  /**
   * The record reader under this parser, past the header and configuration: a destination
   * reads its records from it, so the destination and `inspect` are decided by one parser
   * (see `docs/design/hostile-input.md`, "One parser decides").
   */
  get recordReader(): RecordReader {
    return this.records;
  }

  /**
   * Reads the header and, when there is one, the configuration section, and stops before the
   * first record after them: a reader that goes on with {@link recordReader} (a destination)
   * reads every section and command from there. Call it first, instead of `next()`.
   * @returns the configuration, or undefined when the stream has none (allowed only without
   *   `requireConfiguration`)
   */
  async readHeaderAndConfiguration(): Promise<ConfigurationRecord | undefined> {
    await this.readHeader();
    const offset = this.reader.offset;
    return (await this.startConfiguration()) ? this.readConfiguration(offset) : undefined;
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
    return this.read();
  }

  /**
   * The same as {@link next}, without a promise when the record's header is already
   * buffered: a reader that runs once per section (`inspect`) then pays no microtask per
   * record (see `docs/design/hostile-input.md`, "Cost").
   */
  read(): StreamRecord | null | Promise<StreamRecord | null> {
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
    const offset = this.reader.offset;
    return (await this.startConfiguration()) ? this.readConfiguration(offset) : this.readRecord();
  }

  /**
   * Past the header: takes the configuration section's type byte when it is next (true), or
   * leaves the record that is there (false; refused when the configuration is required).
   */
  private async startConfiguration(): Promise<boolean> {
    const r = this.reader;
    const offset = r.offset;
    await r.ensure(1, 'the configuration section');
    const type = await r.peekU8();
    this.phase = 'records';
    if (type === RecordType.CONFIGURATION) {
      r.takeU8();
      return true;
    }
    if (this.options.requireConfiguration) {
      throw new StreamFormatError('MISSING_CONFIGURATION', offset, `configuration section missing (found type 0x${(type ?? 0).toString(16)})`);
    }
    return false;
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

  private readRecord(): StreamRecord | Promise<StreamRecord> {
    const reading = this.records.read();
    if (reading) return reading.then(() => this.recordRead());
    return this.recordRead();
  }

  /** The record the record reader just read, as the parser yields it. */
  private recordRead(): StreamRecord {
    // Cleared only once the footer checked out, so `openSection` names the section on error.
    this.pendingFooter = undefined;
    const h = this.records.record;
    switch (h.type) {
      case 'start':
      case 'full': {
        const record: SectionRecord = {
          type: h.type,
          offset: h.offset,
          bodyOffset: h.bodyOffset,
          sectionId: h.sectionId,
          idstr: idstrOf(h),
          instanceId: h.instanceId,
          versionId: h.versionId,
        };
        this.sections.set(h.sectionId, h.idstrBytes, h.idstrStart, h.idstrEnd, record.idstr, h.instanceId, h.versionId);
        return this.openBody(record);
      }
      case 'part':
      case 'end': {
        const identity = this.sections.get(h.sectionId);
        if (!identity) throw new StreamFormatError('UNKNOWN_SECTION', h.offset, `unknown savevm section ${h.sectionId}`);
        return this.openBody({
          type: h.type,
          offset: h.offset,
          bodyOffset: h.bodyOffset,
          sectionId: h.sectionId,
          idstr: identity.idstr,
          instanceId: identity.instanceId,
          versionId: identity.versionId,
        });
      }
      case 'command':
        return { type: 'command', offset: h.offset, command: h.command, name: h.commandName, payload: h.commandPayload };
      case 'eof':
        this.phase = 'after-eof';
        return { type: 'eof', offset: h.offset };
    }
  }

  /** Yields a section record; its owner reads the body, and the next read checks the footer. */
  private openBody(record: SectionRecord): SectionRecord {
    this.pendingFooter = record;
    this.records.expectFooter(record.sectionId, record.idstr);
    return record;
  }

  private async readVmdesc(): Promise<StreamRecord | null> {
    this.phase = 'done';
    if (!this.options.expectVmdesc) return null;
    const after = await this.records.readAfterEof(this.options.keepVmdescJson, this.options.maxVmdescBytes);
    if (after.kind === 'missing') {
      this.warnings.push(after.warning);
      return null;
    }
    return { type: 'vmdesc', offset: after.offset, json: after.json ?? '' };
  }
}
