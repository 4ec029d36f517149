/** One pushed `MigrationInfo`, its per-entry list built only when read. */
import type { SaveStateEntry } from '../registry/save-state-entry.js';
import type { StreamCompat } from '../stream-compat.js';
import type { ConvergenceInfo, EntryProgress, MigrationInfo, MultifdChannelProgress } from './migration-info.js';
import type { MigrationStatus } from './migration-status.js';

/** A `MigrationInfo` whose `entries` array is built lazily (it is large with many entries). */
export class InfoSnapshot implements MigrationInfo {
  readonly status: MigrationStatus;
  readonly totalTimeMs: number;
  readonly setupTimeMs: number | undefined;
  readonly downtimeMs: number | undefined;
  readonly expectedDowntimeMs: number | undefined;
  readonly transferredBytes: number;
  readonly remainingBytes: number;
  readonly throughputMbps: number;
  readonly iterations: number;
  readonly thresholdBytes: number;
  readonly iterationCapReached: boolean;
  readonly errorDescription: string | undefined;
  readonly warnings: readonly string[];
  readonly streamCompat?: StreamCompat;
  readonly convergence?: ConvergenceInfo;
  readonly multifdChannels?: readonly MultifdChannelProgress[];
  private built: readonly EntryProgress[] | undefined;

  /**
   * @param list the entries, in list order
   * @param bytes each entry's bytes, by list position (a copy the snapshot owns)
   * @param fields every other field of the info
   */
  constructor(
    private readonly list: readonly SaveStateEntry[],
    private readonly bytes: Float64Array,
    fields: Omit<MigrationInfo, 'entries'>,
  ) {
    this.status = fields.status;
    this.totalTimeMs = fields.totalTimeMs;
    this.setupTimeMs = fields.setupTimeMs;
    this.downtimeMs = fields.downtimeMs;
    this.expectedDowntimeMs = fields.expectedDowntimeMs;
    this.transferredBytes = fields.transferredBytes;
    this.remainingBytes = fields.remainingBytes;
    this.throughputMbps = fields.throughputMbps;
    this.iterations = fields.iterations;
    this.thresholdBytes = fields.thresholdBytes;
    this.iterationCapReached = fields.iterationCapReached;
    this.errorDescription = fields.errorDescription;
    this.warnings = fields.warnings;
    if (fields.streamCompat !== undefined) this.streamCompat = fields.streamCompat;
    if (fields.convergence !== undefined) this.convergence = fields.convergence;
    if (fields.multifdChannels !== undefined) this.multifdChannels = fields.multifdChannels;
  }

  /** Bytes per entry, in list order (built on first read). */
  get entries(): readonly EntryProgress[] {
    if (this.built === undefined) {
      const out = new Array<EntryProgress>(this.list.length);
      for (let i = 0; i < out.length; i++) {
        const e = this.list[i] as SaveStateEntry;
        out[i] = { idstr: e.idstr, instanceId: e.instanceId, bytes: this.bytes[i] as number };
      }
      this.built = out;
    }
    return this.built;
  }

  /** A plain object: the info's fields and `entries`, not the entry list they are built from. */
  toJSON(): MigrationInfo {
    const { list: _list, bytes: _bytes, built: _built, ...fields } = this;
    return { ...fields, entries: this.entries } as MigrationInfo;
  }
}
