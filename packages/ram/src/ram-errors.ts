/**
 * The package's errors, both `MigrationError`s (`docs/design/errors.md`): {@link RamBlockError}
 * for a VMM's own mistakes with its blocks, and {@link RamLoadError} for a stream the loader
 * refuses (with QEMU's words where QEMU has some, docs/design/ram-section.md §5).
 */
import { MigrationError, MigrationErrorReason } from '@savevm/core';

/**
 * A block that cannot be registered or used as asked: an empty or too long idstr, a length
 * that is not a whole number of pages, a duplicate, a range outside the block, a change of
 * the block list during a migration. A `MigrationError` of phase `register`, reason
 * `INVALID_ARGUMENT`, errno `EINVAL`, whose message is its own words; thrown from a hook, the
 * driver adds the entry and the hook (`docs/design/errors.md`).
 */
export class RamBlockError extends MigrationError {
  /**
   * @param block the block's idstr, when the error is about one
   * @param detail what is wrong
   */
  constructor(
    readonly block: string | undefined,
    detail: string,
  ) {
    const text = block === undefined ? detail : `RAM block "${block}": ${detail}`;
    super({ phase: 'register', reason: MigrationErrorReason.INVALID_ARGUMENT, detail: text, errno: 'EINVAL', message: text });
  }
}

/** Why the loader refused a `ram` section. */
export type RamLoadErrorCode =
  /** The block list or a page names a block this side does not have. */
  | 'UNKNOWN_BLOCK'
  /** The block list gives a block a used length other than the local one. */
  | 'LENGTH_MISMATCH'
  /** (strict block list) A local block is missing from the stream's block list. */
  | 'MISSING_BLOCK'
  /** (strict block list) The block list is repeated, absent before a page, or overruns its total. */
  | 'BAD_BLOCK_LIST'
  /** A CONTINUE record before any block was named. */
  | 'CONTINUE_WITHOUT_BLOCK'
  /** A page offset at or past the block's used length. */
  | 'OFFSET_OUT_OF_RANGE'
  /** A flag combination the loader does not know. */
  | 'UNKNOWN_FLAGS'
  /** A ZERO record whose fill byte is not 0. */
  | 'NONZERO_FILL'
  /** A record kind savevm does not decode (XBZRLE). */
  | 'UNSUPPORTED_RECORD';

/** What a {@link RamLoadError} is built from. */
export interface RamLoadErrorInit {
  /** Why. */
  readonly code: RamLoadErrorCode;
  /** QEMU's message(s) for the same input, or savevm's own words where QEMU has none. */
  readonly messages: readonly string[];
  /** The block involved, when known. */
  readonly block?: string | undefined;
  /** The offset inside the block the record named, when it named one. */
  readonly ramOffset?: bigint | undefined;
  /** The record's flags (the low 12 bits of its word). */
  readonly flags?: number | undefined;
  /** Stream byte offset of the record. */
  readonly streamOffset?: number | undefined;
}

/**
 * A `ram` section the loader refuses (reason `BAD_STREAM`, phase `load-state`): it names
 * the block and the offset inside it, and its detail is QEMU's message for the same input.
 */
export class RamLoadError extends MigrationError {
  /** Why, as a code. */
  readonly code: RamLoadErrorCode;
  /** The block involved, when known. */
  readonly block: string | undefined;
  /** The offset inside the block the record named, when it named one. */
  readonly ramOffset: bigint | undefined;
  /** The record's flags, when the error is about one record. */
  readonly flags: number | undefined;
  /** QEMU's message(s) (or savevm's own words where QEMU has none), in the order QEMU prints them. */
  readonly messages: readonly string[];

  /** @param init what was refused and where */
  constructor(init: RamLoadErrorInit) {
    super({
      phase: 'load-state',
      reason: MigrationErrorReason.BAD_STREAM,
      detail: init.messages.join('; '),
      entry: undefined,
      offset: init.streamOffset,
      errno: 'EINVAL',
    });
    this.code = init.code;
    this.block = init.block;
    this.ramOffset = init.ramOffset;
    this.flags = init.flags;
    this.messages = init.messages;
  }
}
