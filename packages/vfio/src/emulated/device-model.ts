/**
 * The emulated VFIO device: the kernel side of one device, over real device-state bytes. It
 * puts together the regions (`device-regions.ts`), its migration interface — the v2 state
 * machine (`v2/`) or the v1 migration region (`v1/`) — its one data session, the armed faults
 * (`faults/`) and its DMA engine. The emulated kernel (`kernel.ts`) decodes ioctls and forwards
 * here; results are byte counts or −errno.
 */
import { Errno } from '../errors.js';
import { MigState, V1State, VfioMigrationFlags } from '../uapi/constants.js';
import { DataSessionSlot, type EmulatedSession } from './data-session-slot.js';
import { DeviceRegions, type EmulatedRegion } from './device-regions.js';
import { DeviceStateBytes, fillFromSeed } from './device-state.js';
import { EmulatedDmaEngine, type DmaEngineConfig } from './dma-engine.js';
import { DeviceFaults } from './faults/device-faults.js';
import type { ArcFault, DataFault } from './faults/fault-settings.js';
import type { MigrationInterface, MigrationParts } from './migration-interface.js';
import { SessionDataIo, type PreCopyEmptyRead } from './session-data-io.js';
import { EmulatedV1Region } from './v1/v1-migration-region.js';
import { V2StateMachine, type SetStateOutcome } from './v2/v2-state-machine.js';

/** Configuration of an emulated device (its DMA and dirty-tracking abilities included). */
export interface EmulatedDeviceConfig extends DmaEngineConfig {
  /** Device name (an mdev UUID by default). */
  readonly name?: string;
  /** `v2` (VFIO_DEVICE_FEATURE migration), `v1` (migration region) or `none` (not migratable). Default v2. */
  readonly protocol?: 'v2' | 'v1' | 'none';
  /** v2 migration flags (`VfioMigrationFlags`); 0 means no migration (ENOTTY). Default all three. */
  readonly migrationFlags?: number;
  /** Size of the device state, bytes. Default 64 KiB. */
  readonly stateSize?: number;
  /** Dirty-tracking page size, bytes. Default 4096. */
  readonly pageSize?: number;
  /** Seed the state bytes are filled from. Default 1. */
  readonly seed?: number;
  /** What a pre-copy read answers at a temporary end: ENOMSG (uAPI) or 0 (Linux 6.12 mtty). Default ENOMSG. */
  readonly preCopyEmptyRead?: PreCopyEmptyRead;
  /** Pages the workload dirties before each data read while the device runs. Default 0. */
  readonly dirtyPagesPerRead?: number;
  /** Size of the v1 data section, bytes. Default 64 KiB. */
  readonly v1DataSectionSize?: number;
  /** Whether the v1 region advertises its data section with a sparse-mmap capability. Default true. */
  readonly v1SparseMmap?: boolean;
}

const BAR0_SIZE = 4096;
const CONFIG_SIZE = 256;
const ALL_V2_FLAGS = VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P | VfioMigrationFlags.PRE_COPY;

let nameCounter = 0;
function defaultName(): string {
  nameCounter++;
  return `00000000-0000-4000-8000-${nameCounter.toString(16).padStart(12, '0')}`;
}

/** The emulated device. Tests and tools drive it through the kernel layer and inspect it here. */
export class EmulatedDeviceModel {
  /** Device name. */
  readonly name: string;
  /** Migration protocol. */
  readonly protocol: 'v2' | 'v1' | 'none';
  /** v2 migration flags (0 when v2 migration is absent). */
  readonly migrationFlags: number;
  /** The device state bytes. */
  readonly state: DeviceStateBytes;
  /** Arcs taken, in order (`[from, to]`, v2 states or v1 values). */
  readonly arcLog: Array<readonly [number, number]> = [];
  /** The device's DMA into guest memory, its DMA log and its IOMMU abilities. */
  readonly dma: EmulatedDmaEngine;
  readonly #sessions = new DataSessionSlot();
  readonly #faults = new DeviceFaults();
  readonly #io: SessionDataIo;
  readonly #regions: DeviceRegions;
  /** The v2 feature interface: every device has one (with no flags unless it speaks v2). */
  readonly #v2: V2StateMachine;
  /** The v1 migration region, on a v1 device. */
  readonly #v1: EmulatedV1Region | undefined;
  /** The interface whose state says whether the device runs: v1's region on a v1 device, else v2's. */
  readonly #migration: MigrationInterface;

  /** Creates the device in RUNNING with its state filled from the seed. */
  constructor(config: EmulatedDeviceConfig = {}) {
    this.name = config.name ?? defaultName();
    this.protocol = config.protocol ?? 'v2';
    this.migrationFlags = this.protocol === 'v2' ? (config.migrationFlags ?? ALL_V2_FLAGS) : 0;
    if (this.migrationFlags !== 0 && (this.migrationFlags & VfioMigrationFlags.STOP_COPY) === 0) {
      throw new RangeError('v2 migration flags must include STOP_COPY');
    }
    const stateSize = config.stateSize ?? 64 * 1024;
    const pageSize = config.pageSize ?? 4096;
    const seed = config.seed ?? 1;
    const dirtyPagesPerRead = config.dirtyPagesPerRead ?? 0;
    this.state = new DeviceStateBytes(stateSize, pageSize, seed);
    const configSpace = new Uint8Array(CONFIG_SIZE);
    fillFromSeed(configSpace, seed ^ 0x5a5a5a5a);

    const beforeRead = (): void => {
      if (dirtyPagesPerRead > 0) this.runWorkload(dirtyPagesPerRead);
    };
    this.#io = new SessionDataIo(this.#faults, beforeRead, config.preCopyEmptyRead ?? 'ENOMSG');
    const parts: MigrationParts = { state: this.state, sessions: this.#sessions, faults: this.#faults, arcLog: this.arcLog, stateSize, pageSize };
    this.#v2 = new V2StateMachine(this.migrationFlags, parts);
    this.#v1 =
      this.protocol === 'v1'
        ? new EmulatedV1Region(parts, {
            dataSectionSize: config.v1DataSectionSize ?? 64 * 1024,
            sparseMmap: config.v1SparseMmap ?? true,
            beforeRead,
            io: this.#io,
          })
        : undefined;
    this.#migration = this.#v1 ?? this.#v2;
    this.#regions = new DeviceRegions(new Uint8Array(BAR0_SIZE), configSpace, this.#migration.regions);
    this.dma = new EmulatedDmaEngine(
      this.name,
      config,
      () => this.#migration.isRunning(),
      () => this.#migration.stateValue,
    );
  }

  // ---- inspection and test controls -------------------------------------------------------

  /** Current v2 state (meaningful in v2 mode). */
  get migState(): MigState {
    return this.#v2.state;
  }

  /** Current v1 `device_state` value (meaningful in v1 mode). */
  get v1State(): number {
    return this.#v1?.state ?? V1State.RUNNING;
  }

  /** The device state bytes (live view). */
  get stateBytes(): Uint8Array {
    return this.state.bytes;
  }

  /** The current data session, if any. */
  get session(): EmulatedSession | undefined {
    return this.#sessions.current;
  }

  /** Runs the dirtying workload for `pages` changes if the device is running. */
  runWorkload(pages: number): void {
    if (this.#migration.isRunning()) this.state.dirtyRandom(pages);
  }

  /** Makes an arc fail (see {@link ArcFault}). */
  failArc(fault: ArcFault): void {
    this.#faults.arcs.add(fault);
  }

  /** Makes data reads fail after some bytes. */
  failDataRead(fault: DataFault): void {
    this.#faults.reads.arm(fault);
  }

  /** Makes data writes fail after some bytes. */
  failDataWrite(fault: DataFault): void {
    this.#faults.writes.arm(fault);
  }

  /** Makes VFIO_DEVICE_RESET fail with `errno` (the device stays as it is). */
  failReset(errno: number): void {
    this.#faults.resetErrno = errno;
  }

  /** Removes every injected fault. */
  clearFaults(): void {
    this.#faults.clear();
  }

  // ---- device info and regions --------------------------------------------------------------

  /** Number of regions the device reports. */
  get regionCount(): number {
    return this.#regions.count;
  }

  /** Description of region `index`, or undefined when out of range. */
  region(index: number): EmulatedRegion | undefined {
    return this.#regions.describe(index);
  }

  /** pread inside a region; bytes or −errno. */
  regionRead(index: number, offset: number, into: Uint8Array): number {
    return this.#regions.read(index, offset, into);
  }

  /** pwrite inside a region; bytes or −errno. */
  regionWrite(index: number, offset: number, from: Uint8Array): number {
    return this.#regions.write(index, offset, from);
  }

  /**
   * The bytes behind `length` bytes at `offset` of region `index`, for an mmap: a live view of
   * the device's own memory, so stores through it reach the device. EINVAL (as vfio-pci
   * answers) for a region without the MMAP flag, a write mapping of a read-only region, an
   * offset that is not page-aligned, or a range no sparse-mmap area covers whole.
   */
  mapRegion(index: number, offset: number, length: number, writable: boolean): Uint8Array | number {
    return this.#regions.map(index, offset, length, writable);
  }

  // ---- v2 migration and the data files -------------------------------------------------------

  /** MIG_DATA_SIZE: the size of a one-pass STOP_COPY image (same in every state). */
  stopCopyLength(): number {
    return this.#v2.stopCopyLength();
  }

  /**
   * SET MIG_DEVICE_STATE: walks the kernel's path one arc at a time. EINVAL for an unsupported
   * target or a blocked arc; on a failing arc the device stays where that arc left it.
   */
  setMigState(target: number): SetStateOutcome {
    return this.#v2.setState(target);
  }

  /** PRECOPY_INFO on a data file of `session`: `[initial, dirty]` or −errno. */
  precopyInfo(session: EmulatedSession): readonly [number, number] | number {
    return this.#v2.precopyInfo(session);
  }

  /** read(2) on a data file of `session`: bytes or −errno. */
  readData(session: EmulatedSession, into: Uint8Array): number {
    return this.#io.read(session, into);
  }

  /** write(2) on a data file of `session`: bytes or −errno. */
  writeData(session: EmulatedSession, from: Uint8Array): number {
    return this.#io.write(session, from);
  }

  /** VFIO_DEVICE_RESET: 0 or −errno. Back to RUNNING, sessions ended. */
  reset(): number {
    if (this.#faults.resetErrno !== undefined) return -this.#faults.resetErrno;
    this.#sessions.end();
    this.#v2.reset();
    this.#v1?.reset();
    return 0;
  }
}
