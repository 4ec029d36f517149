/**
 * Whether one device sends (or loads) its stop-copy state on the multifd channels: QEMU's
 * `x-migration-multifd-transfer` (OnOffAuto) against what the migration offers
 * (docs/design/multifd.md §4).
 */
import type { EntryRef, MigrationPhase } from '@savevm/core';
import { VfioMultifdError } from './multifd-error.js';

/**
 * A device's use of the channels for its state: `auto` when the migration sends device
 * state on its channels, `on` requires it (setup fails otherwise), `off` never.
 */
export type MultifdTransfer = 'auto' | 'on' | 'off';

/**
 * Decides the device's mode at setup, fixed for the rest of the migration (QEMU
 * `vfio_multifd_setup`).
 * @param setting the device's option
 * @param supported whether the migration carries device state on multifd channels
 * @throws VfioMultifdError `unsupported` for `on` without such channels, in QEMU's words
 */
export function usesMultifdTransfer(setting: MultifdTransfer, supported: boolean, device: string, phase: MigrationPhase, entry: EntryRef): boolean {
  if (setting === 'off') return false;
  if (supported) return true;
  if (setting === 'auto') return false;
  throw new VfioMultifdError({
    device,
    phase,
    entry,
    refusal: 'unsupported',
    detail: `${device}: Multifd device transfer requested but unsupported in the current config`,
    reason: 'INVALID_ARGUMENT',
  });
}
