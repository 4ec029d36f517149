/** Facts of QEMU's migration stream (docs/design/stream-format.md §1–§2). */

/** "QEVM", the be32 magic that opens every stream. */
export const QEMU_VM_FILE_MAGIC = 0x5145564d;
/** The obsolete stream version QEMU refuses with ENOTSUP. */
export const QEMU_VM_FILE_VERSION_COMPAT = 2;
/** The only stream version QEMU reads and writes. */
export const QEMU_VM_FILE_VERSION = 3;

/** Top-level record type bytes. */
export const RecordType = {
  /** QEMU_VM_EOF (0x00): ends the device state; only the vmdesc may follow. */
  EOF: 0x00,
  /** QEMU_VM_SECTION_START (0x01): first record of a live section, with the full header (id, idstr, instance, version). */
  SECTION_START: 0x01,
  /** QEMU_VM_SECTION_PART (0x02): an iteration record of a live section; short header (section id only). */
  SECTION_PART: 0x02,
  /** QEMU_VM_SECTION_END (0x03): the last record of a live section, written at completion; short header. */
  SECTION_END: 0x03,
  /** QEMU_VM_SECTION_FULL (0x04): a device's whole non-live state in one record, with the full header. */
  SECTION_FULL: 0x04,
  /** QEMU_VM_SUBSECTION (0x05): an optional subsection inside a vmstate body; never a top-level record. */
  SUBSECTION: 0x05,
  /** QEMU_VM_VMDESCRIPTION (0x06): the JSON description of the FULL sections, after EOF. */
  VMDESCRIPTION: 0x06,
  /** QEMU_VM_CONFIGURATION (0x07): machine type and optional subsections, right after the header; no footer. */
  CONFIGURATION: 0x07,
  /** QEMU_VM_COMMAND (0x08): a MIG_CMD (be16 command, be16 length, payload). */
  COMMAND: 0x08,
  /** QEMU_VM_SECTION_FOOTER (0x7e): closes a section record, repeating its section id. */
  SECTION_FOOTER: 0x7e,
} as const;

/** MIG_CMD values (be16 after a COMMAND byte). */
export const MigCommand = {
  /** 0: never valid; a loader rejects it. */
  INVALID: 0,
  /** 1 (no payload): asks the destination to open the return path to the source. */
  OPEN_RETURN_PATH: 1,
  /** 2 (be32 payload): the destination answers with a PONG carrying the same value on the return path. */
  PING: 2,
  /** 3 (empty or 16 bytes: page-size summaries): the source may enter postcopy later. */
  POSTCOPY_ADVISE: 3,
  /** 4 (no payload): the destination starts listening for postcopy page requests. */
  POSTCOPY_LISTEN: 4,
  /** 5 (no payload): the destination starts running the guest in postcopy. */
  POSTCOPY_RUN: 5,
  /** 6 (variable): ranges of pages the destination must discard before postcopy. */
  POSTCOPY_RAM_DISCARD: 6,
  /** 7 (be32 length, then that many bytes): a nested stream the destination loads in one go. */
  PACKAGED: 7,
  /** 8 (no payload): switch the destination into COLO mode. */
  ENABLE_COLO: 8,
  /** 9 (no payload): a recovered postcopy resumes. */
  POSTCOPY_RESUME: 9,
  /** 10 (variable, a RAM block name): asks the destination to send that block's received bitmap. */
  RECV_BITMAP: 10,
  /** QEMU 10.0+; QEMU 7.2 rejects it as unknown. */
  SWITCHOVER_START: 11,
} as const;

/** Name and payload length rule of each command; `lengths` undefined means variable. */
export interface CommandRule {
  /** QEMU's name, e.g. `OPEN_RETURN_PATH`. */
  readonly name: string;
  /** Allowed payload lengths, or undefined for any (up to 65535). */
  readonly lengths: readonly number[] | undefined;
}

/** Commands QEMU 7.2 knows, with their fixed lengths (a wrong length is ERANGE there). */
export const QEMU_7_2_COMMANDS: ReadonlyMap<number, CommandRule> = new Map<number, CommandRule>([
  [MigCommand.OPEN_RETURN_PATH, { name: 'OPEN_RETURN_PATH', lengths: [0] }],
  [MigCommand.PING, { name: 'PING', lengths: [4] }],
  [MigCommand.POSTCOPY_ADVISE, { name: 'POSTCOPY_ADVISE', lengths: [0, 16] }],
  [MigCommand.POSTCOPY_LISTEN, { name: 'POSTCOPY_LISTEN', lengths: [0] }],
  [MigCommand.POSTCOPY_RUN, { name: 'POSTCOPY_RUN', lengths: [0] }],
  [MigCommand.POSTCOPY_RAM_DISCARD, { name: 'POSTCOPY_RAM_DISCARD', lengths: undefined }],
  [MigCommand.PACKAGED, { name: 'PACKAGED', lengths: [4] }],
  [MigCommand.ENABLE_COLO, { name: 'ENABLE_COLO', lengths: [0] }],
  [MigCommand.POSTCOPY_RESUME, { name: 'POSTCOPY_RESUME', lengths: [0] }],
  [MigCommand.RECV_BITMAP, { name: 'RECV_BITMAP', lengths: undefined }],
]);

/** Commands of the newest QEMU: 7.2's plus SWITCHOVER_START. */
export const NEWEST_COMMANDS: ReadonlyMap<number, CommandRule> = new Map<number, CommandRule>([
  ...QEMU_7_2_COMMANDS,
  [MigCommand.SWITCHOVER_START, { name: 'SWITCHOVER_START', lengths: [0] }],
]);

/** Largest idstr (its length is one byte). */
export const MAX_IDSTR_LENGTH = 255;
/** VMSTATE_INSTANCE_ID_ANY as it is stored (u32). */
export const INSTANCE_ID_ANY = 0xffffffff;
