/** Facts of QEMU's migration stream (spec/qemu-stream.md §1, handlers-and-vfio.md §A.8). */

/** "QEVM", the be32 magic that opens every stream. */
export const QEMU_VM_FILE_MAGIC = 0x5145564d;
/** The obsolete stream version QEMU refuses with ENOTSUP. */
export const QEMU_VM_FILE_VERSION_COMPAT = 2;
/** The only stream version QEMU reads and writes. */
export const QEMU_VM_FILE_VERSION = 3;

/** Top-level record type bytes. */
export const RecordType = {
  EOF: 0x00,
  SECTION_START: 0x01,
  SECTION_PART: 0x02,
  SECTION_END: 0x03,
  SECTION_FULL: 0x04,
  SUBSECTION: 0x05,
  VMDESCRIPTION: 0x06,
  CONFIGURATION: 0x07,
  COMMAND: 0x08,
  SECTION_FOOTER: 0x7e,
} as const;

/** MIG_CMD values (be16 after a COMMAND byte). */
export const MigCommand = {
  INVALID: 0,
  OPEN_RETURN_PATH: 1,
  PING: 2,
  POSTCOPY_ADVISE: 3,
  POSTCOPY_LISTEN: 4,
  POSTCOPY_RUN: 5,
  POSTCOPY_RAM_DISCARD: 6,
  PACKAGED: 7,
  ENABLE_COLO: 8,
  POSTCOPY_RESUME: 9,
  RECV_BITMAP: 10,
  /** QEMU 10.0+; QEMU 7.2 rejects it as unknown. */
  SWITCHOVER_START: 11,
} as const;

/** A MIG_CMD value. */
export type MigCommandId = (typeof MigCommand)[keyof typeof MigCommand];

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
