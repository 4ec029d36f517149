import type { StreamCompat } from '../stream-compat.js';
import type { MigrationStatus } from './migration-status.js';

/** Bytes one entry has written so far (all its sections). */
export interface EntryProgress {
  /** The entry's idstr. */
  readonly idstr: string;
  /** The entry's instance id. */
  readonly instanceId: number;
  /** Bytes of section bodies this entry wrote (source) or read (destination). */
  readonly bytes: number;
}

/** Bytes one multifd channel has moved so far (docs/design/multifd.md). */
export interface MultifdChannelProgress {
  /** The channel's number. */
  readonly channel: number;
  /** Bytes the channel took (source) or brought (destination). */
  readonly bytes: number;
}

/**
 * How the live loop is converging (source only; see `docs/design/convergence.md`): whether
 * the pending bytes stopped shrinking, and what the policy did about it.
 */
export interface ConvergenceInfo {
  /** True while the pending bytes have not shrunk for `windowRounds` rounds in a row. */
  readonly stalled: boolean;
  /** Rounds in a row whose pending bytes were not below the lowest seen. */
  readonly roundsWithoutProgress: number;
  /** The stall window, rounds (the `stallWindowRounds` parameter). */
  readonly windowRounds: number;
  /** The last round's pending bytes. */
  readonly pendingBytes: number;
  /** The last round's switchover threshold, bytes. */
  readonly thresholdBytes: number;
  /** The downtime limit in force, ms (raised by `step-downtime`). */
  readonly downtimeLimitMs: number;
  /** The policy's kind (`keep-going`, `switchover`, `step-downtime`). */
  readonly policy: 'keep-going' | 'switchover' | 'step-downtime';
  /** How many times `step-downtime` raised the limit. */
  readonly downtimeSteps: number;
  /** Whether the policy made the source switch over without converging. */
  readonly forcedSwitchover: boolean;
}

/**
 * What QMP `query-migrate` reports, pushed: the status and the progress counters. Times
 * are in whole milliseconds; fields not yet known are undefined. A migration's stream of
 * infos ends with exactly one terminal status (completed, failed or cancelled).
 */
export interface MigrationInfo {
  /** The migration status (QEMU's name). */
  readonly status: MigrationStatus;
  /** Milliseconds since the migration began (`total-time`); final once it ended. */
  readonly totalTimeMs: number;
  /** Milliseconds from start to the end of setup (`setup-time`). */
  readonly setupTimeMs: number | undefined;
  /** Milliseconds from VM stop to the last byte (`downtime`), once completed. */
  readonly downtimeMs: number | undefined;
  /** Expected downtime from the remaining bytes and the measured bandwidth (`expected-downtime`). */
  readonly expectedDowntimeMs: number | undefined;
  /**
   * Bytes delivered so far (`ram.transferred` plus device bytes): on the source, the bytes
   * the channel took (not those still queued in the writer); on the destination, bytes read.
   */
  readonly transferredBytes: number;
  /** Bytes still pending, from the last pending query (`ram.remaining`). */
  readonly remainingBytes: number;
  /** Throughput of the last measured window, in megabits per second (`ram.mbps`). */
  readonly throughputMbps: number;
  /** Rounds of `saveLiveIterate` so far (like `ram.dirty-sync-count`). */
  readonly iterations: number;
  /** The switchover threshold in bytes (bandwidth × downtime limit). */
  readonly thresholdBytes: number;
  /** Whether switchover happened because the iteration cap was reached. */
  readonly iterationCapReached: boolean;
  /** On the source, once a round did not converge: the stall watch and the policy (undefined before, and on the destination). */
  readonly convergence?: ConvergenceInfo | undefined;
  /** Bytes per entry, in list order. */
  readonly entries: readonly EntryProgress[];
  /** With multifd: bytes per channel, in channel order (the main stream's are `transferredBytes` minus their sum). */
  readonly multifdChannels?: readonly MultifdChannelProgress[] | undefined;
  /** The error's message once failed (`error-desc`). */
  readonly errorDescription: string | undefined;
  /** Non-fatal problems, e.g. a cleanup hook that threw after a completed migration. */
  readonly warnings: readonly string[];
  /** On the source: which QEMU's stream it writes (the `streamCompat` parameter); undefined on the destination. */
  readonly streamCompat?: StreamCompat;
}
