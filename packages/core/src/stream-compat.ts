/**
 * Which QEMU's stream the source writes: a compatibility choice like QEMU's machine-type
 * compat properties, for the parts of the stream that changed between QEMU 7.2 and 10.0
 * (docs/design/qemu-versions.md). A savevm destination reads both.
 */

/** The streams the source can write: what QEMU 7.2 accepts, or what QEMU 10.0 writes. */
export type StreamCompat = 'qemu-7.2' | 'qemu-10.0';

/** Every {@link StreamCompat}, oldest first. */
export const STREAM_COMPATS: readonly StreamCompat[] = Object.freeze(['qemu-7.2', 'qemu-10.0']);

/**
 * The default: `qemu-7.2`. Its streams load into QEMU 7.2 *and* 10.0 (10.0's loader takes a
 * stream without SWITCHOVER_START and either globalstate layout), while QEMU 7.2 refuses
 * the SWITCHOVER_START command every `qemu-10.0` stream carries — the oldest peer decides,
 * as an older machine type does in QEMU.
 */
export const DEFAULT_STREAM_COMPAT: StreamCompat = 'qemu-7.2';

/** How `globalstate`'s 100 bytes after its length are laid out. */
export type GlobalStateLayout =
  /** QEMU 7.2: `runstate[100]`, the run-state name zero-padded. */
  | 'runstate-100'
  /** QEMU 10.0: `runstate[32]`, `has_vm_was_suspended` (1), `vm_was_suspended`, `unused[66]`. */
  | 'runstate-32-suspended';

/** What a {@link StreamCompat} decides. */
export interface StreamCompatRules {
  /** Send MIG_CMD SWITCHOVER_START right before the END sections (QEMU 10.0's `send-switchover-start`). */
  readonly switchoverStart: boolean;
  /** Describe the configuration section under a `"configuration"` key first in the vmdesc. */
  readonly vmdescConfiguration: boolean;
  /** How a compat-aware `globalstate` entry writes its body and describes it. */
  readonly globalStateLayout: GlobalStateLayout;
}

const RULES: Readonly<Record<StreamCompat, StreamCompatRules>> = Object.freeze({
  'qemu-7.2': Object.freeze({ switchoverStart: false, vmdescConfiguration: false, globalStateLayout: 'runstate-100' }),
  'qemu-10.0': Object.freeze({ switchoverStart: true, vmdescConfiguration: true, globalStateLayout: 'runstate-32-suspended' }),
});

/** Whether `value` names a {@link StreamCompat}. */
export function isStreamCompat(value: unknown): value is StreamCompat {
  return typeof value === 'string' && (STREAM_COMPATS as readonly string[]).includes(value);
}

/** The rules of a compat. */
export function streamCompatRules(compat: StreamCompat): StreamCompatRules {
  return RULES[compat];
}
