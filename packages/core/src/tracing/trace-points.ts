/**
 * Trace points through `node:diagnostics_channel`: one channel per event, named after
 * QEMU's trace event (migration/trace-events, softmmu/trace-events). Subscribe with
 * `diagnostics_channel.subscribe(TracePoint.savevm_section_start, fn)`; payloads are typed
 * by {@link TracePayloads}. Publishing costs nothing when nobody listens.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

/** The channel names, one per trace event. */
export const TracePoint = {
  /** `migrate_set_state`: the migration status changed. */
  migrate_set_state: 'migrate_set_state',
  /** `savevm_state_setup`: the source starts the setup phase. */
  savevm_state_setup: 'savevm_state_setup',
  /** `savevm_state_header`: header and configuration written. */
  savevm_state_header: 'savevm_state_header',
  /** `savevm_section_start`: a section header was written; the hook runs next. */
  savevm_section_start: 'savevm_section_start',
  /** `savevm_section_end`: the hook returned and the footer was written. */
  savevm_section_end: 'savevm_section_end',
  /** `savevm_section_skip`: an entry was skipped (inactive, or rate-limited mid-list). */
  savevm_section_skip: 'savevm_section_skip',
  /** `savevm_state_iterate`: one round of `saveLiveIterate` begins. */
  savevm_state_iterate: 'savevm_state_iterate',
  /** `migrate_pending_estimate`: summed estimate. */
  migrate_pending_estimate: 'migrate_pending_estimate',
  /** `migrate_pending_exact`: summed exact figure. */
  migrate_pending_exact: 'migrate_pending_exact',
  /** `migration_update_counters`: the counters of a finished 100 ms window (QEMU `migration_update_counters`). */
  migration_update_counters: 'migration_update_counters',
  /** `migration_completion_vm_stop`: the VM was stopped for switchover. */
  migration_completion_vm_stop: 'migration_completion_vm_stop',
  /** `savevm_state_complete_precopy`: END and FULL sections begin. */
  savevm_state_complete_precopy: 'savevm_state_complete_precopy',
  /** `savevm_state_cleanup`: `saveCleanup` of all entries begins. */
  savevm_state_cleanup: 'savevm_state_cleanup',
  /** `vm_state_notify`: run-state change handlers are being notified. */
  vm_state_notify: 'vm_state_notify',
  /** `loadvm_state_setup`: the destination runs `loadSetup` of all entries. */
  loadvm_state_setup: 'loadvm_state_setup',
  /** `qemu_loadvm_state_section`: a record type byte was read. */
  qemu_loadvm_state_section: 'qemu_loadvm_state_section',
  /** `qemu_loadvm_state_section_startfull`: a START or FULL section is dispatched. */
  qemu_loadvm_state_section_startfull: 'qemu_loadvm_state_section_startfull',
  /** `qemu_loadvm_state_section_partend`: a PART or END section is dispatched. */
  qemu_loadvm_state_section_partend: 'qemu_loadvm_state_section_partend',
  /** `qemu_loadvm_state_post_main`: the main load loop ended (result code). */
  qemu_loadvm_state_post_main: 'qemu_loadvm_state_post_main',
  /** `loadvm_state_cleanup`: `loadCleanup` of all entries begins. */
  loadvm_state_cleanup: 'loadvm_state_cleanup',
} as const;

/** One of the trace channel names. */
export type TracePointName = keyof typeof TracePoint;

/** A section event's payload. */
export interface SectionTrace {
  /** The entry's idstr. */
  readonly idstr: string;
  /** The entry's instance id. */
  readonly instanceId: number;
  /** The section id written. */
  readonly sectionId: number;
  /** START, PART, END or FULL. */
  readonly type: 'start' | 'part' | 'end' | 'full';
}

/** The payload each channel carries. */
export interface TracePayloads {
  /** Status change. */
  migrate_set_state: { readonly side: 'source' | 'destination'; readonly status: string };
  /** Setup begins, with the number of entries. */
  savevm_state_setup: { readonly entries: number };
  /** Header written. */
  savevm_state_header: { readonly machine: string | undefined };
  /** Section header written. */
  savevm_section_start: SectionTrace;
  /** Section footer written; `bytes` is the body size. */
  savevm_section_end: SectionTrace & { readonly bytes: number };
  /** Entry skipped. */
  savevm_section_skip: SectionTrace & { readonly reason: 'inactive' | 'rate-limited' };
  /** Iterate round. */
  savevm_state_iterate: { readonly iteration: number };
  /** Pending estimate. */
  migrate_pending_estimate: { readonly mustPrecopy: number; readonly canPostcopy: number; readonly threshold: number };
  /** Pending exact. */
  migrate_pending_exact: { readonly mustPrecopy: number; readonly canPostcopy: number; readonly threshold: number };
  /** Window counters. */
  migration_update_counters: {
    readonly bandwidthBytesPerMs: number;
    readonly thresholdBytes: number;
    readonly expectedDowntimeMs: number;
  };
  /** VM stopped for switchover. */
  migration_completion_vm_stop: { readonly wasRunning: boolean };
  /** Completion begins. */
  savevm_state_complete_precopy: { readonly entries: number };
  /** Cleanup begins. */
  savevm_state_cleanup: { readonly entries: number };
  /** Change handlers notified. */
  vm_state_notify: { readonly running: boolean; readonly state: string };
  /** Load setup begins. */
  loadvm_state_setup: { readonly entries: number };
  /** Record type read. */
  qemu_loadvm_state_section: { readonly type: string; readonly offset: number };
  /** START/FULL dispatch. */
  qemu_loadvm_state_section_startfull: {
    readonly sectionId: number;
    readonly idstr: string;
    readonly instanceId: number;
    readonly versionId: number;
  };
  /** PART/END dispatch. */
  qemu_loadvm_state_section_partend: { readonly sectionId: number };
  /** Main loop over; `ok` false when it failed. */
  qemu_loadvm_state_post_main: { readonly ok: boolean };
  /** Load cleanup begins. */
  loadvm_state_cleanup: { readonly entries: number };
}

type Channels = { readonly [K in TracePointName]: diagnosticsChannel.Channel };

/** The channel objects, for publishers. */
const channels = Object.fromEntries(
  Object.keys(TracePoint).map((name) => [name, diagnosticsChannel.channel(name)]),
) as unknown as Channels;

/** Whether anyone listens on a trace point (check before building a costly payload). */
export function isTracing(point: TracePointName): boolean {
  return channels[point].hasSubscribers;
}

/** Publishes a trace event (no-op without subscribers). */
export function trace<K extends TracePointName>(point: K, payload: TracePayloads[K]): void {
  const ch = channels[point];
  if (ch.hasSubscribers) ch.publish(payload);
}

/** Publishes `vm_state_notify` (used by the run-state controller). */
export function traceVmStateNotify(running: boolean, state: string): void {
  trace('vm_state_notify', { running, state });
}
