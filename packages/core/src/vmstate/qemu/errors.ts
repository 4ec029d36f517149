/**
 * Typed errors of QEMU's descriptions: a dump that is not what `-dump-vmstate` writes, and a
 * FULL section that its description does not decode (naming the section, the field and the
 * offset; see `docs/design/qemu-vmstate.md`, "Errors").
 */
import { StreamError, type StreamErrorCode } from '@savevm/stream';
import { MigrationError, MigrationErrorReason } from '../../errors.js';

/**
 * A `-dump-vmstate` document that is not shaped as QEMU writes it: a `MigrationError` of
 * phase `describe`, reason `INVALID_ARGUMENT`, errno `EINVAL` (`docs/design/errors.md`).
 */
export class QemuVmstateDumpError extends MigrationError {
  /**
   * @param path where in the JSON, e.g. `fdc.Description.Fields[3].size`
   * @param detail what is wrong there
   */
  constructor(
    readonly path: string,
    detail: string,
  ) {
    const text = `vmstate dump: ${path}: ${detail}`;
    super({ phase: 'describe', reason: MigrationErrorReason.INVALID_ARGUMENT, detail: text, errno: 'EINVAL', message: text });
  }
}

/** Why a FULL section could not be decoded or re-encoded through its description. */
export type QemuSectionReason =
  /** Neither the dump nor the stream's vmdesc describes the section. */
  | 'NO_DESCRIPTION'
  /** The dump's description and the stream's vmdesc disagree about a field. */
  | 'DESCRIPTION_MISMATCH'
  /** What the dump leaves open cannot be decided for this field (see the design doc). */
  | 'UNDECIDABLE'
  /** The bytes do not decode (truncated, a version or subsection refused, …). */
  | 'BAD_BODY'
  /** The description decodes less or more than the section's body. */
  | 'WRONG_LENGTH'
  /** The re-encoded body differs from the bytes it was decoded from. */
  | 'NOT_IDENTICAL';

/** What a {@link QemuSectionError} is made of. */
export interface QemuSectionErrorInit {
  /** Why. */
  readonly reason: QemuSectionReason;
  /** The section, as `idstr#instance`. */
  readonly section: string;
  /** The field path, when one field is to blame (`ide.bmdma[1].cur_addr`). */
  readonly field?: string | undefined;
  /** Stream offset where the problem was found. */
  readonly offset: number;
  /** What happened, in words. */
  readonly detail: string;
  /** The error underneath (the engine's load error), if any. */
  readonly cause?: unknown;
}

/**
 * A FULL section its description does not decode or re-encode: a decoder's error, so a
 * {@link StreamError} (code `BAD_VMDESC` or `BAD_BODY`, errno EINVAL) with its own
 * `reason` (`docs/design/errors.md`).
 */
export class QemuSectionError extends StreamError {
  /** @param init the section, the field (when one is to blame), the offset, the reason and what happened */
  constructor(readonly init: QemuSectionErrorInit) {
    const code: StreamErrorCode = init.reason === 'NO_DESCRIPTION' || init.reason === 'DESCRIPTION_MISMATCH' ? 'BAD_VMDESC' : 'BAD_BODY';
    const where = init.field === undefined ? `section ${init.section}` : `section ${init.section}, field ${init.field}`;
    super(code, init.offset, `${where}: ${init.detail}`, { cause: init.cause });
  }

  /** Why, as one code. */
  get reason(): QemuSectionReason {
    return this.init.reason;
  }

  /** The section, as `idstr` and instance id (`idstr#instance`). */
  get section(): string {
    return this.init.section;
  }

  /** The field path, when one field is to blame. */
  get field(): string | undefined {
    return this.init.field;
  }
}

/**
 * A layout question the dump and the vmdesc could not settle. Internal to the section
 * decoder, which turns it into the `cause` of a {@link QemuSectionError} with the section and
 * the offset (`docs/design/errors.md`).
 */
export class QemuLayoutError extends Error {
  /**
   * @param reason `DESCRIPTION_MISMATCH`, `UNDECIDABLE` or `NO_DESCRIPTION`
   * @param field path of the field (`description.field`)
   * @param detail what could not be settled
   */
  constructor(
    readonly reason: 'DESCRIPTION_MISMATCH' | 'UNDECIDABLE' | 'NO_DESCRIPTION',
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
    this.name = new.target.name;
  }
}
