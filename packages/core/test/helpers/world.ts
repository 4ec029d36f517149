import { MemoryReadChannel, QemuFileReader, QemuFileWriter, type WriteChannel } from '@savevm/stream';
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

/**
 * A memory write channel that really copies what it is given. Works around a bug in
 * `@savevm/stream`'s MemoryWriteChannel: it keeps `chunk.slice()`, which for a Buffer is
 * a view, so the writer's reused gather buffer overwrites earlier bytes.
 */
export class CopyingMemoryWriteChannel implements WriteChannel {
  private readonly parts: Buffer[] = [];
  private closed = false;
  writev(chunks: readonly Uint8Array[]): void {
    if (this.closed) throw Object.assign(new Error('memory channel is shut down'), { code: 'ESHUTDOWN' });
    for (const chunk of chunks) this.parts.push(Buffer.from(chunk));
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
  async close(): Promise<void> {}
  shutdown(): void {
    this.closed = true;
  }
}

/** Migrates `from` into memory and returns the bytes. */
export async function saveToMemory(
  from: World,
  params: Parameters<MigrationSource['migrate']>[1] = {},
): Promise<{ bytes: Buffer; info: MigrationInfo }> {
  const channel = new CopyingMemoryWriteChannel();
  const f = new QemuFileWriter(channel);
  const info = await from.source.migrate(f, { maxBandwidth: 0, ...params });
  return { bytes: channel.bytes(), info };
}

/** A reader over bytes. */
export function readerOf(bytes: Uint8Array): QemuFileReader {
  return new QemuFileReader(new MemoryReadChannel(bytes));
}
