/**
 * `@savevm/stream`: QEMUFile framing and QEMU's migration stream grammar.
 * @packageDocumentation
 */
export type { ByteSink, ReadChannel, WriteChannel } from './channels/channel.js';
export type { SpliceInput, SpliceSink, SpliceSource, SpliceTarget } from './channels/splice.js';
export { MemoryReadChannel, MemoryWriteChannel } from './channels/memory-channel.js';
export { FdChannel, defaultFdIoMode, openFileChannel, type FdIoMode } from './channels/fd-channel.js';
export { SocketChannel } from './channels/socket-channel.js';
export {
  StreamError,
  StreamFormatError,
  StreamIoError,
  StreamTruncatedError,
  type StreamErrorCode,
} from './errors.js';
export { RateLimiter, RATE_LIMIT_WINDOW_MS, type MillisecondClock } from './file/rate-limiter.js';
export {
  QemuFileWriter,
  DEFAULT_QUEUE_CAP,
  type BufferOwnership,
  type QemuFileWriterOptions,
} from './file/qemu-file-writer.js';
export { QemuFileReader, type CopyOptions } from './file/qemu-file-reader.js';
export {
  QEMU_VM_FILE_MAGIC,
  RecordType,
  MigCommand,
  QEMU_7_2_COMMANDS,
  NEWEST_COMMANDS,
  MAX_IDSTR_LENGTH,
  INSTANCE_ID_ANY,
  type CommandRule,
} from './grammar/constants.js';
export type {
  HeaderRecord,
  ConfigurationRecord,
  ConfigurationSubsection,
  SectionIdentity,
  FullHeaderSectionRecord,
  ShortHeaderSectionRecord,
  SectionRecord,
  CommandRecord,
  EofRecord,
  VmdescRecord,
  StreamRecord,
} from './grammar/records.js';
export {
  writeHeader,
  writeConfiguration,
  writeSectionStart,
  writeSectionFull,
  writeSectionPart,
  writeSectionEnd,
  writeSectionFooter,
  writeCommand,
  writeEof,
  writeVmdesc,
} from './grammar/stream-writer.js';
export { isSectionFooterAt, SECTION_FOOTER_SIZE } from './grammar/section-footer.js';
export {
  ReturnPathMessage,
  RETURN_PATH_MAX_PAYLOAD,
  SAVEVM_RP_MSG_FAILURE_TEXT,
  SAVEVM_WORDS_PING_VALUE,
  FIRST_PING_VALUE,
  returnPathMessageName,
  checkReturnPathHeader,
  encodeReturnPathMessage,
  be32Payload,
  failureTextPayload,
} from './grammar/return-path-messages.js';
export { StreamParser, type StreamParserOptions } from './grammar/stream-parser.js';
export { escapeWireString, escapeJsonText, stringifyForTerminal, hasRawControlCharacters } from './text/wire-text.js';
export { toQemuJson } from './grammar/qemu-json.js';
export {
  parseVmDescription,
  VmdescError,
  MAX_VMDESC_BYTES,
  MAX_VMDESC_VALUES,
  MAX_VMDESC_DEPTH,
  MAX_VMDESC_COUNT,
  MAX_VMDESC_SIZE,
  type VmDescription,
  type VmdescDevice,
  type VmdescField,
  type VmdescStruct,
} from './grammar/vmdesc.js';
export { RamFlag } from './grammar/ram-flags.js';
export { RecordReader, type RecordHeader, type AfterEof, idstrOf } from './grammar/record-reader.js';
export { ByteArrayWriter, type BigEndianPuts } from './file/byte-sink.js';
