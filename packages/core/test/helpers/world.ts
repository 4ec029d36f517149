import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import {
  MigrationBlockers,
  MigrationDestination,
  MigrationNotifiers,
  MigrationSource,
  RunState,
  RunStateController,
  SaveStateRegistry,
  type MigrationClock,
  type MigrationInfo,
  type MigrationStatus,
} from '../../src/index.js';

/** One VM's worth of core services. */
export class World {
  readonly registry = new SaveStateRegistry();
  readonly runState: RunStateController;
  readonly blockers = new MigrationBlockers();
  readonly notifiers = new MigrationNotifiers();
  readonly source: MigrationSource;
  readonly destination: MigrationDestination;
  readonly sourceStatuses: MigrationStatus[] = [];
  readonly destinationStatuses: MigrationStatus[] = [];

  constructor(initial: RunState = RunState.RUNNING, clock?: MigrationClock) {
    this.runState = new RunStateController(initial);
    const c = clock ? { clock } : {};
    this.source = new MigrationSource({ registry: this.registry, runState: this.runState, blockers: this.blockers, notifiers: this.notifiers, ...c });
    this.destination = new MigrationDestination({ registry: this.registry, runState: this.runState, ...c });
    track(this.source.info$, this.sourceStatuses);
    track(this.destination.info$, this.destinationStatuses);
  }
}

function track(info$: { subscribe(fn: (i: MigrationInfo) => void): unknown }, into: MigrationStatus[]): void {
  info$.subscribe((i) => {
    if (into[into.length - 1] !== i.status) into.push(i.status);
  });
}

/** Migrates `from` into memory and returns the bytes. */
export async function saveToMemory(
  from: World,
  params: Parameters<MigrationSource['migrate']>[1] = {},
): Promise<{ bytes: Buffer; info: MigrationInfo }> {
  const channel = new MemoryWriteChannel();
  const f = new QemuFileWriter(channel);
  const info = await from.source.migrate(f, { maxBandwidth: 0, ...params });
  return { bytes: channel.bytes(), info };
}

/** A reader over bytes. */
export function readerOf(bytes: Uint8Array): QemuFileReader {
  return new QemuFileReader(new MemoryReadChannel(bytes));
}
