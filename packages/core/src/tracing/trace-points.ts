/**
 * The core's trace points (a {@link TraceChannels} set): one channel per event, named after
 * QEMU's trace event (migration/trace-events, softmmu/trace-events). Subscribe with
 * `diagnostics_channel.subscribe(TracePoint.savevm_section_start, fn)`; payloads are typed
 * by {@link TracePayloads}. Publishing costs nothing when nobody listens.
 */
import type { StreamCompat } from '../stream-compat.js';
import { TraceChannels } from './trace-channels.js';

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
  /** `migration_convergence_stalled`: the pending bytes stopped shrinking for a window of rounds (docs/design/convergence.md). */
  migration_convergence_stalled: 'migration_convergence_stalled',
  /** `migration_convergence_downtime_step`: the `step-downtime` policy raised the downtime limit. */
  migration_convergence_downtime_step: 'migration_convergence_downtime_step',
  /** `migration_completion_vm_stop`: the VM was stopped for switchover. */
  migration_completion_vm_stop: 'migration_completion_vm_stop',
  /** `savevm_state_complete_precopy`: END and FULL sections begin. */
  savevm_state_complete_precopy: 'savevm_state_complete_precopy',
  /** `migration_destination_verdict`: the destination's verdict arrived on the return path (or did not). */
  migration_destination_verdict: 'migration_destination_verdict',
  /** `loadvm_process_command`: the destination handled a MIG_CMD. */
  loadvm_process_command: 'loadvm_process_command',
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
  migrate_set_state: {
    /** Which end of the migration changed status. */
    readonly side: 'source' | 'destination';
    /** The new status, a {@link MigrationStatus} name. */
    readonly status: string;
  };
  /** Setup begins, with the number of entries. */
  savevm_state_setup: {
    /** How many registered entries take part in the migration. */
    readonly entries: number;
  };
  /** Header written. */
  savevm_state_header: {
    /** Machine type written in the configuration section; undefined when none was written. */
    readonly machine: string | undefined;
    /** Which QEMU's stream the source writes (the `streamCompat` parameter). */
    readonly streamCompat: StreamCompat;
  };
  /** Section header written. */
  savevm_section_start: SectionTrace;
  /** Section footer written; `bytes` is the body size. */
  savevm_section_end: SectionTrace & {
    /** Bytes the hook wrote into the section body. */
    readonly bytes: number;
  };
  /** Entry skipped. */
  savevm_section_skip: SectionTrace & {
    /** Why: the entry's `isActive` said no, or the rate limit stopped the round before it. */
    readonly reason: 'inactive' | 'rate-limited';
  };
  /** Iterate round. */
  savevm_state_iterate: {
    /** Number of this round, counting from 1. */
    readonly iteration: number;
  };
  /** Pending estimate. */
  migrate_pending_estimate: {
    /** Estimated bytes that must still be sent before switchover (summed over entries). */
    readonly mustPrecopy: number;
    /** Estimated bytes that could still be sent after switchover, in postcopy. */
    readonly canPostcopy: number;
    /** Bytes that fit in the downtime limit at the current bandwidth; at or below it the driver asks for exact figures. */
    readonly threshold: number;
  };
  /** Pending exact. */
  migrate_pending_exact: {
    /** Exact bytes that must still be sent before switchover (summed over entries). */
    readonly mustPrecopy: number;
    /** Exact bytes that could still be sent after switchover, in postcopy. */
    readonly canPostcopy: number;
    /** Bytes that fit in the downtime limit; at or below it the driver may switch over. */
    readonly threshold: number;
  };
  /** Window counters. */
  migration_update_counters: {
    /** Bytes per millisecond sent during the window that just closed. */
    readonly bandwidthBytesPerMs: number;
    /** Bytes that can be sent within the downtime limit at the switchover bandwidth. */
    readonly thresholdBytes: number;
    /** Remaining bytes divided by the bandwidth, in ms; 0 until enough has been sent to tell. */
    readonly expectedDowntimeMs: number;
  };
  /** The live loop stopped converging. */
  migration_convergence_stalled: {
    /** The round's pending bytes. */
    readonly pendingBytes: number;
    /** The round's switchover threshold, bytes. */
    readonly thresholdBytes: number;
  };
  /** The downtime limit was stepped up. */
  migration_convergence_downtime_step: {
    /** The limit in force from now on, ms. */
    readonly downtimeLimitMs: number;
  };
  /** VM stopped for switchover. */
  migration_completion_vm_stop: {
    /** Whether the VM was running before the stop (and so is restarted if the migration fails). */
    readonly wasRunning: boolean;
  };
  /** The destination's verdict, or what stood for it. */
  migration_destination_verdict: {
    /** `loaded`, `failed`, `closed`, `invalid` or `timeout`. */
    readonly verdict: string;
  };
  /** A command from the stream was handled. */
  loadvm_process_command: {
    /** QEMU's name of the command. */
    readonly name: string;
    /** Byte offset of the command in the stream. */
    readonly offset: number;
  };
  /** Completion begins. */
  savevm_state_complete_precopy: {
    /** How many entries take part in completion. */
    readonly entries: number;
  };
  /** Cleanup begins. */
  savevm_state_cleanup: {
    /** How many entries get `saveCleanup`. */
    readonly entries: number;
  };
  /** Change handlers notified. */
  vm_state_notify: {
    /** Whether the VM is starting (true) or stopping (false). */
    readonly running: boolean;
    /** The new run state, a {@link RunState} name. */
    readonly state: string;
  };
  /** Load setup begins. */
  loadvm_state_setup: {
    /** How many registered entries get `loadSetup`. */
    readonly entries: number;
  };
  /** Record type read. */
  qemu_loadvm_state_section: {
    /** Name of the record type read (e.g. `SECTION_START`, `EOF`). */
    readonly type: string;
    /** Byte offset in the stream at which the type byte was read. */
    readonly offset: number;
  };
  /** START/FULL dispatch. */
  qemu_loadvm_state_section_startfull: {
    /** Section id the stream assigns to this entry; PART and END records refer to it. */
    readonly sectionId: number;
    /** The entry's idstr from the section header. */
    readonly idstr: string;
    /** The entry's instance id from the section header. */
    readonly instanceId: number;
    /** The version the source saved the section with. */
    readonly versionId: number;
  };
  /** PART/END dispatch. */
  qemu_loadvm_state_section_partend: {
    /** Section id of the entry the record belongs to (from its START). */
    readonly sectionId: number;
  };
  /** Main loop over; `ok` false when it failed. */
  qemu_loadvm_state_post_main: {
    /** Whether the main load loop reached EOF without an error. */
    readonly ok: boolean;
  };
  /** Load cleanup begins. */
  loadvm_state_cleanup: {
    /** How many entries get `loadCleanup`. */
    readonly entries: number;
  };
}

const channels = new TraceChannels<TracePayloads>(TracePoint);

/** Whether anyone listens on a trace point (check before building a costly payload). */
export function isTracing(point: TracePointName): boolean {
  return channels.isTracing(point);
}

/** Publishes a trace event (no-op without subscribers). */
export function trace<K extends TracePointName>(point: K, payload: TracePayloads[K]): void {
  channels.publish(point, payload);
}

/** Publishes `vm_state_notify` (used by the run-state controller). */
export function traceVmStateNotify(running: boolean, state: string): void {
  trace('vm_state_notify', { running, state });
}
