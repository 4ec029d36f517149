/**
 * The handler contract: what a device implements to take part in a migration.
 *
 * Modelled on QEMU's `SaveVMHandlers` (include/migration/register.h); the QEMU name of
 * each hook is given beside it. Every hook is optional and may be synchronous or return a
 * promise. A hook fails by throwing (ideally a `MigrationError`, but anything thrown is
 * wrapped into one that names the entry, the hook and the phase). There is no
 * `void *opaque`: the handler object is the device's state, so hooks use `this`.
 *
 * The driver calls the hooks in this order (docs/writing-a-device-handler.md):
 *
 * Source: `savePrepare` → `saveSetup` (SECTION_START) → loop { `statePendingEstimate`,
 * maybe `statePendingExact`, `saveLiveIterate` (SECTION_PART) } → VM stopped →
 * `saveLiveCompletePrecopy` (SECTION_END) → `saveState` (SECTION_FULL) → `saveCleanup`.
 *
 * Destination: `loadSetup` → `loadState` per section → `switchoverStart` on the
 * SWITCHOVER_START command → `loadCleanup`.
 *
 * With multifd channels (docs/design/multifd.md), `saveSetup` is given the channels for RAM
 * pages, `saveCompletePrecopyThread` runs beside the END sections, and on the destination
 * `loadStateBuffer` takes each device-state packet and `switchoverStart` may start load work.
 *
 * Hooks of the newest QEMU that this driver does not call, because it has no postcopy:
 * `save_live_complete_postcopy`, `resume_prepare`.
 */
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';
import type {
  DeviceStateSender,
  MultifdRamReceiver,
  LoadStateBufferContext,
  SaveSetupContext,
  SwitchoverStartContext,
} from './multifd/multifd-contract.js';
import type { StreamCompat } from './stream-compat.js';

/** A hook result: a value now or later. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Bytes a handler still has to send (QEMU's two accumulators of `state_pending_*`).
 * The driver sums them over all active entries.
 */
export interface PendingBytes {
  /** Bytes that must move before the destination starts (QEMU `must_precopy`). */
  readonly mustPrecopy: number;
  /** Bytes that could move after the destination starts (QEMU `can_postcopy`). */
  readonly canPostcopy: number;
}

/** The identity of a registered entry, as hooks see it. */
export interface SaveStateEntryInfo {
  /** The section idstr sent on the wire. */
  readonly idstr: string;
  /** The instance id within the idstr. */
  readonly instanceId: number;
  /** The version this entry writes (and the newest it accepts). */
  readonly versionId: number;
  /** The section id this entry writes. */
  readonly sectionId: number;
}

/** How a load ended, as `loadCleanup` is told. */
export interface LoadOutcome {
  /** True when every section loaded and the stream ended well. */
  readonly succeeded: boolean;
  /** The failure, when it did not. */
  readonly error?: Error;
}

/** What a load-side setup hook can do besides reading. */
export interface LoadSetupContext {
  /** The entry being set up. */
  readonly entry: SaveStateEntryInfo;
  /**
   * Tells the source that this device has loaded its initial bytes (QEMU
   * `qemu_loadvm_approve_switchover`); only meaningful when `switchoverAckNeeded`
   * returned true. Throws (EINVAL) when no approval is outstanding.
   */
  approveSwitchover(): void;
  /** The multifd channels, when the migration has them (docs/design/multifd.md). */
  readonly multifd?: MultifdRamReceiver | undefined;
}

/**
 * The hooks of one save-state entry. Implement only what the device needs:
 * - a device with only non-live state implements `saveState` + `loadState`;
 * - a live device (RAM, VFIO) implements `saveSetup`, the pending hooks,
 *   `saveLiveIterate`, `saveLiveCompletePrecopy`, `saveCleanup`, `loadSetup`,
 *   `loadState` and `loadCleanup` (and may add `saveState` for its config).
 */
export interface SaveVMHandlers {
  // ---- source side -------------------------------------------------------------------

  /**
   * Not a QEMU hook (QEMU devices learn their compat from machine-type properties): tells
   * the entry which QEMU's stream this migration writes (the source's `streamCompat`
   * parameter), before `savePrepare`. A device whose layout differs between QEMU versions
   * (QEMU's `globalstate`) writes accordingly.
   */
  applyStreamCompat?(compat: StreamCompat): void;

  /**
   * QEMU `save_prepare` (9.0+). Runs at the very start of `migrate`, before the status
   * leaves SETUP and before anything is written, for active entries. Throw to veto the
   * migration (e.g. a mode the device cannot support).
   */
  savePrepare?(entry: SaveStateEntryInfo): MaybePromise<void>;

  /**
   * QEMU `save_setup`. Sets up the source side and writes the body of this entry's
   * SECTION_START. Runs only for active entries, in list order. A throw fails the migration.
   * `context.multifd` is set when the migration has multifd channels.
   */
  saveSetup?(f: QemuFileWriter, entry: SaveStateEntryInfo, context?: SaveSetupContext): MaybePromise<void>;

  /**
   * QEMU `state_pending_estimate`. A cheap guess of the bytes still to send. Called every
   * round of the live loop for active entries.
   */
  statePendingEstimate?(entry: SaveStateEntryInfo): MaybePromise<PendingBytes>;

  /**
   * QEMU `state_pending_exact`. The exact figure; may be costly (RAM syncs its dirty
   * bitmap). Called only when the estimate is at or below the switchover threshold.
   * When absent, the estimate is used.
   */
  statePendingExact?(entry: SaveStateEntryInfo): MaybePromise<PendingBytes>;

  /**
   * QEMU `save_live_iterate`. Writes one chunk as the body of a SECTION_PART, ideally no
   * more than `f.rateLimitExceeded()` allows. Returns true when the handler has nothing
   * more for now. (As in QEMU, the live loop decides switchover from pending bytes, not
   * from this result; but when every entry says so, the loop waits for the next 100 ms
   * window instead of spinning, and that window does not count as a bandwidth measurement.)
   */
  saveLiveIterate?(f: QemuFileWriter, entry: SaveStateEntryInfo): MaybePromise<boolean>;

  /**
   * QEMU `save_complete` (formerly `save_live_complete_precopy`). Runs at switchover with
   * the VM stopped and writes the rest of the state as the body of a SECTION_END.
   */
  saveLiveCompletePrecopy?(f: QemuFileWriter, entry: SaveStateEntryInfo): MaybePromise<void>;

  /**
   * QEMU `save_complete_precopy_thread` (10.0+). Called only when the migration sends device
   * state on its multifd channels (`SaveSetupContext.multifd.settings.deviceState`), for active
   * entries, right after the VM stopped and before the END sections are written; it runs
   * beside them, sends the stop-copy state through `sender`, and the driver waits for every
   * such hook after the last END section. The signal aborts when the migration fails or is
   * cancelled. A rejection fails the migration.
   */
  saveCompletePrecopyThread?(sender: DeviceStateSender, entry: SaveStateEntryInfo, signal: AbortSignal): Promise<void>;

  /**
   * QEMU `save_state`. Writes the non-live state as the body of a SECTION_FULL, after all
   * live data, VM stopped. Called for every entry that has it (no `isActive` check, as in
   * QEMU). The section appears in the vmdesc JSON as a `data` buffer of its size.
   */
  saveState?(f: QemuFileWriter, entry: SaveStateEntryInfo): MaybePromise<void>;

  /**
   * QEMU `save_cleanup`. Frees source-side state. Runs exactly once per entry at the end
   * of every migration — completed, failed or cancelled — even when `saveSetup` never
   * ran for it. On failure and cancel it runs after the VM (and its run-state handlers)
   * have been started again. A throw here is reported but does not change the outcome.
   */
  saveCleanup?(entry: SaveStateEntryInfo): MaybePromise<void>;

  /**
   * QEMU `is_active`. When it returns false the entry is skipped in prepare, setup,
   * pending, iterate, complete and load setup (not in `saveState` nor in cleanup).
   */
  isActive?(): boolean;

  /**
   * QEMU `is_active_iterate`. An extra filter applied only to `saveLiveIterate` (VFIO:
   * true only while the device is in PRE_COPY).
   */
  isActiveIterate?(): boolean;

  /**
   * QEMU `has_postcopy`. Reported only; this driver is precopy-only, so every entry is
   * completed before the destination starts.
   */
  hasPostcopy?(): boolean;

  // ---- destination side --------------------------------------------------------------

  /**
   * QEMU `load_setup`. Runs for every active entry before the first section is read.
   * A throw fails the load (EINVAL).
   */
  loadSetup?(f: QemuFileReader, context: LoadSetupContext): MaybePromise<void>;

  /**
   * QEMU `load_state`. Reads the body of one section this entry's source wrote (START,
   * PART, END or FULL) — exactly the bytes written, or the footer check fails.
   * `versionId` is the version found in the stream (≤ the entry's, ≥ its minimum).
   */
  loadState?(f: QemuFileReader, versionId: number, entry: SaveStateEntryInfo): MaybePromise<void>;

  /**
   * QEMU `load_cleanup`. Runs for every entry at the end of every load, successful or
   * not, even when `loadSetup` never ran; it must leave the device in a safe state.
   * Unlike QEMU, it is told how the load ended, so a device whose own sections loaded
   * can still reset itself when another device made the migration fail; and a throw here
   * after a good load fails the migration (a device that validates its state at the end
   * of the load refuses it this way), where QEMU could only report it.
   */
  loadCleanup?(entry: SaveStateEntryInfo, outcome: LoadOutcome): MaybePromise<void>;

  /**
   * QEMU `switchover_ack_needed` (8.1+, destination). With switchover-ack on, each entry
   * returning true must call `approveSwitchover()` before the source may switch over.
   */
  switchoverAckNeeded?(): boolean;

  /**
   * QEMU `switchover_start` (10.0+, destination). Called when the SWITCHOVER_START
   * command arrives (only streams from QEMU 10.0+ or a source that sends it). With multifd
   * device state, this is where the entry starts the work that loads its buffers in order
   * (`context.startLoadThread`); the load waits for that work after EOF.
   */
  switchoverStart?(entry: SaveStateEntryInfo, context?: SwitchoverStartContext): MaybePromise<void>;

  /**
   * QEMU `load_state_buffer` (10.0+, destination). Takes one multifd device-state packet's
   * payload for this entry, in the order it arrived (not the order it was sent); the handler
   * keeps and orders them itself, and may hand the payload's memory back through
   * `context.release` once it has loaded it. A throw fails the load, naming the channel.
   */
  loadStateBuffer?(data: Buffer, entry: SaveStateEntryInfo, context?: LoadStateBufferContext): MaybePromise<void>;
}

/** The names of every hook, for error messages and tests. */
export type SaveVMHook = keyof SaveVMHandlers;
