/**
 * The error of a device no handler provider accepts (see `docs/design/errors.md`).
 */
import { MigrationError, MigrationErrorReason } from '../errors.js';
import type { ProviderVerdict } from './provider-selector.js';

/** The message: every provider's reason, in the order asked. */
function describeRefusals(device: string, verdicts: readonly ProviderVerdict[]): string {
  return verdicts.length === 0
    ? `no handler provider is bound for ${device}`
    : `no handler provider accepts ${device}: ${verdicts.map((v) => `${v.provider}: ${v.verdict.reason}`).join('; ')}`;
}

/**
 * No provider accepted a device; lists every provider's reason. A `MigrationError` of phase
 * `register`, reason `INVALID_ARGUMENT`; its message is the list alone.
 */
export class NoHandlerProviderError extends MigrationError {
  /** @param device names the device; @param verdicts every provider's answer, in the order asked */
  constructor(
    readonly device: string,
    readonly verdicts: readonly ProviderVerdict[],
  ) {
    const text = describeRefusals(device, verdicts);
    super({ phase: 'register', reason: MigrationErrorReason.INVALID_ARGUMENT, detail: text, message: text });
  }
}
