/**
 * The error of a registration the registry refuses (see `docs/design/errors.md`).
 */
import { MigrationError, MigrationErrorReason } from '../errors.js';

/**
 * A registration that the registry refuses (duplicate, bad id or version): a
 * `MigrationError` of phase `register`, reason `INVALID_ARGUMENT`, errno `EINVAL`; its
 * message is the detail alone.
 */
export class RegistrationError extends MigrationError {
  /** @param detail why */
  constructor(detail: string) {
    super({ phase: 'register', reason: MigrationErrorReason.INVALID_ARGUMENT, detail, errno: 'EINVAL', message: detail });
  }
}
