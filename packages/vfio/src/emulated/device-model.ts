/**
 * The emulated VFIO device: the kernel side of the migration uAPI (v2 state machine walked with
 * the kernel's own next-step table, data sessions, PRECOPY_INFO, MIG_DATA_SIZE, reset) or the v1
 * migration region, over real device-state bytes, with fault injection. The emulated kernel
 * (`kernel.ts`) decodes ioctls and forwards here; results are byte counts or −errno.
 */
import { Errno } from '../errors.js';
import {
  MigState,
  V1State,
  VfioMigrationFlags,
  VfioRegionCapId,
  VfioRegionFlags,
  VfioV1Region,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_PCI_NUM_REGIONS,
  isMigState,
  isValidV1State,
  isV1ErrorState,
} from '../uapi/constants.js';
import { isPreCopyState, isRunningState, isStateSupported, nextMigrationStep } from '../uapi/fsm.js';
import type { RegionCapability } from '../uapi/capabilities.js';
import { DeviceStateBytes, fillFromSeed } from './device-state.js';
import { fullImageSize } from './image-format.js';
import { ResumeSession } from './resume-session.js';
import { SaveSession } from './save-session.js';
import type { ArcFault, DataFault } from './faults.js';
import { EmulatedDmaEngine, type DmaEngineConfig } from './dma-engine.js';

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
  readonly preCopyEmptyRead?: 'ENOMSG' | 'zero';
  /** Pages the workload dirties before each data read while the device runs. Default 0. */
  readonly dirtyPagesPerRead?: number;
  /** Size of the v1 data section, bytes. Default 64 KiB. */
  readonly v1DataSectionSize?: number;
  /** Whether the v1 region advertises its data section with a sparse-mmap capability. Default true. */
  readonly v1SparseMmap?: boolean;
}

/** A region as the emulated device describes it. */
export interface EmulatedRegion {
  /** Region index. */
  readonly index: number;
  /** `VfioRegionFlags`. */
  readonly flags: number;
  /** Size, bytes. */
  readonly size: number;
  /** Capabilities to report. */
  readonly capabilities: readonly RegionCapability[];
}

/** A data session of the emulated device (what a data_fd refers to). */
export type EmulatedSession = SaveSession | ResumeSession;

/** Result of a SET MIG_DEVICE_STATE on the model. */
export type SetStateOutcome =
  | {
      /** The device reached the target state. */
      readonly ok: true;
      /** The session the final arc opened (the data_fd's model), if it opened one. */
      readonly session?: EmulatedSession;
    }
  | {
      /** The SET failed; the device stays where the failing arc left it. */
      readonly ok: false;
      /** The errno the ioctl answers (EINVAL for a bad target or blocked arc). */
      readonly errno: number;
    };

/** Offset of the v1 data section inside the migration region. */
export const V1_DATA_OFFSET = 4096;
/** Index of the v1 migration region. */
export const V1_REGION_INDEX = VFIO_PCI_NUM_REGIONS;
const BAR0_SIZE = 4096;
/** The page size mmap offsets must be aligned to. */
const MMAP_PAGE_SIZE = 4096;
const CONFIG_SIZE = 256;

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
  readonly #config: Required<Omit<EmulatedDeviceConfig, 'name' | 'protocol' | 'migrationFlags' | keyof DmaEngineConfig>>;
  readonly #bar0 = new Uint8Array(BAR0_SIZE);
  readonly #configSpace = new Uint8Array(CONFIG_SIZE);
  #migState: MigState = MigState.RUNNING;
  #v1State: number = V1State.RUNNING;
  #session: EmulatedSession | undefined;
  #arcFaults: ArcFault[] = [];
  readonly #arcFaultUses = new Map<ArcFault, number>();
  #readFault: DataFault | undefined;
  #readFaultUsed = 0;
  #writeFault: DataFault | undefined;
  #writeFaultUsed = 0;
  #resetErrno: number | undefined;
  readonly #v1Data: Uint8Array;
  #v1Staged: number | undefined;

  /** Creates the device in RUNNING with its state filled from the seed. */
  constructor(config: EmulatedDeviceConfig = {}) {
    this.name = config.name ?? defaultName();
    this.protocol = config.protocol ?? 'v2';
    const allFlags = VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P | VfioMigrationFlags.PRE_COPY;
    this.migrationFlags = this.protocol === 'v2' ? (config.migrationFlags ?? allFlags) : 0;
    if (this.migrationFlags !== 0 && (this.migrationFlags & VfioMigrationFlags.STOP_COPY) === 0) {
      throw new RangeError('v2 migration flags must include STOP_COPY');
    }
    this.#config = {
      stateSize: config.stateSize ?? 64 * 1024,
      pageSize: config.pageSize ?? 4096,
      seed: config.seed ?? 1,
      preCopyEmptyRead: config.preCopyEmptyRead ?? 'ENOMSG',
      dirtyPagesPerRead: config.dirtyPagesPerRead ?? 0,
      v1DataSectionSize: config.v1DataSectionSize ?? 64 * 1024,
      v1SparseMmap: config.v1SparseMmap ?? true,
    };
    this.state = new DeviceStateBytes(this.#config.stateSize, this.#config.pageSize, this.#config.seed);
    fillFromSeed(this.#configSpace, this.#config.seed ^ 0x5a5a5a5a);
    this.#v1Data = new Uint8Array(this.protocol === 'v1' ? this.#config.v1DataSectionSize : 0);
    this.dma = new EmulatedDmaEngine(
      this.name,
      config,
      () => this.#isRunning(),
      () => (this.protocol === 'v1' ? this.#v1State : this.#migState),
    );
  }

  // ---- inspection and test controls -------------------------------------------------------

  /** Current v2 state (meaningful in v2 mode). */
  get migState(): MigState {
    return this.#migState;
  }

  /** Current v1 `device_state` value (meaningful in v1 mode). */
  get v1State(): number {
    return this.#v1State;
  }

  /** The device state bytes (live view). */
  get stateBytes(): Uint8Array {
    return this.state.bytes;
  }

  /** The current data session, if any. */
  get session(): EmulatedSession | undefined {
    return this.#session;
  }

  /** Runs the dirtying workload for `pages` changes if the device is running. */
  runWorkload(pages: number): void {
    if (this.#isRunning()) this.state.dirtyRandom(pages);
  }

  /** Makes an arc fail (see {@link ArcFault}). */
  failArc(fault: ArcFault): void {
    this.#arcFaults.push(fault);
  }

  /** Makes data reads fail after some bytes. */
  failDataRead(fault: DataFault): void {
    this.#readFault = fault;
    this.#readFaultUsed = 0;
  }

  /** Makes data writes fail after some bytes. */
  failDataWrite(fault: DataFault): void {
    this.#writeFault = fault;
    this.#writeFaultUsed = 0;
  }

  /** Makes VFIO_DEVICE_RESET fail with `errno` (the device stays as it is). */
  failReset(errno: number): void {
    this.#resetErrno = errno;
  }

  /** Removes every injected fault. */
  clearFaults(): void {
    this.#arcFaults = [];
    this.#arcFaultUses.clear();
    this.#readFault = undefined;
    this.#writeFault = undefined;
    this.#resetErrno = undefined;
  }

  // ---- device info and regions --------------------------------------------------------------

  /** Number of regions the device reports. */
  get regionCount(): number {
    return this.protocol === 'v1' ? VFIO_PCI_NUM_REGIONS + 1 : VFIO_PCI_NUM_REGIONS;
  }

  /** Description of region `index`, or undefined when out of range. */
  region(index: number): EmulatedRegion | undefined {
    if (!Number.isInteger(index) || index < 0 || index >= this.regionCount) return undefined;
    if (index === 0) return { index, flags: VfioRegionFlags.READ | VfioRegionFlags.WRITE, size: BAR0_SIZE, capabilities: [] };
    if (index === VFIO_PCI_CONFIG_REGION_INDEX) {
      return { index, flags: VfioRegionFlags.READ | VfioRegionFlags.WRITE, size: CONFIG_SIZE, capabilities: [] };
    }
    if (index === V1_REGION_INDEX) {
      const capabilities: RegionCapability[] = [];
      let flags = VfioRegionFlags.READ | VfioRegionFlags.WRITE | VfioRegionFlags.CAPS;
      if (this.#config.v1SparseMmap) {
        flags |= VfioRegionFlags.MMAP;
        capabilities.push({
          kind: 'sparse-mmap',
          version: 1,
          areas: [{ offset: BigInt(V1_DATA_OFFSET), size: BigInt(this.#v1Data.byteLength) }],
        });
      }
      capabilities.push({ kind: 'type', version: 1, type: VfioV1Region.TYPE, subtype: VfioV1Region.SUBTYPE });
      return { index, flags, size: V1_DATA_OFFSET + this.#v1Data.byteLength, capabilities };
    }
    return { index, flags: 0, size: 0, capabilities: [] };
  }

  /** pread inside a region; bytes or −errno. */
  regionRead(index: number, offset: number, into: Uint8Array): number {
    const region = this.region(index);
    if (region === undefined || offset < 0 || offset + into.byteLength > region.size) return -Errno.EINVAL;
    if (index === 0) into.set(this.#bar0.subarray(offset, offset + into.byteLength));
    else if (index === VFIO_PCI_CONFIG_REGION_INDEX) into.set(this.#configSpace.subarray(offset, offset + into.byteLength));
    else if (index === V1_REGION_INDEX) return this.#v1Read(offset, into);
    return into.byteLength;
  }

  /** pwrite inside a region; bytes or −errno. */
  regionWrite(index: number, offset: number, from: Uint8Array): number {
    const region = this.region(index);
    if (region === undefined || offset < 0 || offset + from.byteLength > region.size) return -Errno.EINVAL;
    if (index === 0) this.#bar0.set(from, offset);
    else if (index === VFIO_PCI_CONFIG_REGION_INDEX) this.#configSpace.set(from, offset);
    else if (index === V1_REGION_INDEX) return this.#v1Write(offset, from);
    return from.byteLength;
  }

  /**
   * The bytes behind `length` bytes at `offset` of region `index`, for an mmap: a live view of
   * the device's own memory, so stores through it reach the device. EINVAL (as vfio-pci
   * answers) for a region without the MMAP flag, a write mapping of a read-only region, an
   * offset that is not page-aligned, or a range no sparse-mmap area covers whole.
   */
  mapRegion(index: number, offset: number, length: number, writable: boolean): Uint8Array | number {
    const region = this.region(index);
    if (region === undefined || (region.flags & VfioRegionFlags.MMAP) === 0) return -Errno.EINVAL;
    if (writable && (region.flags & VfioRegionFlags.WRITE) === 0) return -Errno.EINVAL;
    if (length <= 0 || offset < 0 || offset % MMAP_PAGE_SIZE !== 0) return -Errno.EINVAL;
    const covered = region.capabilities.some(
      (cap) =>
        cap.kind === 'sparse-mmap' &&
        cap.areas.some((area) => BigInt(offset) >= area.offset && BigInt(offset) + BigInt(length) <= area.offset + area.size),
    );
    if (!covered || index !== V1_REGION_INDEX || offset < V1_DATA_OFFSET) return -Errno.EINVAL;
    return this.#v1Data.subarray(offset - V1_DATA_OFFSET, offset - V1_DATA_OFFSET + length);
  }

  // ---- v2 migration -------------------------------------------------------------------------

  /** MIG_DATA_SIZE: the size of a one-pass STOP_COPY image (same in every state). */
  stopCopyLength(): number {
    return fullImageSize(this.#config.stateSize, this.#config.pageSize);
  }

  /**
   * SET MIG_DEVICE_STATE: walks the kernel's path one arc at a time. EINVAL for an unsupported
   * target or a blocked arc; on a failing arc the device stays where that arc left it.
   */
  setMigState(target: number): SetStateOutcome {
    let session: EmulatedSession | undefined;
    // A path never has more arcs than there are states.
    for (let guard = 0; this.#migState !== target; guard++) {
      if (guard > 8) return { ok: false, errno: Errno.EINVAL };
      const step = nextMigrationStep(this.migrationFlags, this.#migState, target);
      if (!step.ok) return { ok: false, errno: Errno.EINVAL };
      if (session !== undefined) return { ok: false, errno: Errno.EINVAL }; // a file from an intermediate arc
      const result = this.#arc(this.#migState, step.next);
      if (!result.ok) return result;
      session = result.session;
    }
    if (!isStateSupported(this.migrationFlags, target)) return { ok: false, errno: Errno.EINVAL };
    return session !== undefined ? { ok: true, session } : { ok: true };
  }

  /** PRECOPY_INFO on a data file of `session`: `[initial, dirty]` or −errno. */
  precopyInfo(session: EmulatedSession): readonly [number, number] | number {
    // mtty's order: no ioctl on a resuming file; the device must be in pre-copy; then a
    // file whose session is over (or was replaced) answers ENODEV.
    if ((this.migrationFlags & VfioMigrationFlags.PRE_COPY) === 0) return -Errno.ENOTTY;
    if (!(session instanceof SaveSession)) return -Errno.ENOTTY;
    if (!isPreCopyState(this.#migState)) return -Errno.EINVAL;
    if (session.ended || session !== this.#session) return -Errno.ENODEV;
    return [session.initialBytes(), session.dirtyBytes()];
  }

  /** read(2) on a data file of `session`: bytes or −errno. */
  readData(session: EmulatedSession, into: Uint8Array): number {
    // A resuming file is opened write-only: the kernel refuses the read before the driver sees it.
    if (session instanceof ResumeSession) return -Errno.EBADF;
    if (session.ended) return -Errno.ENODEV;
    let view = into;
    if (this.#readFault !== undefined) {
      const left = this.#readFault.afterBytes - this.#readFaultUsed;
      if (left <= 0 && into.byteLength > 0) return -this.#readFault.errno;
      view = into.subarray(0, Math.min(into.byteLength, left));
    }
    if (this.#config.dirtyPagesPerRead > 0) this.runWorkload(this.#config.dirtyPagesPerRead);
    const n = session.read(view);
    if (this.#readFault !== undefined) this.#readFaultUsed += n;
    if (n === 0 && !session.final && into.byteLength > 0 && this.#config.preCopyEmptyRead === 'ENOMSG') {
      return -Errno.ENOMSG;
    }
    return n;
  }

  /** write(2) on a data file of `session`: bytes or −errno. */
  writeData(session: EmulatedSession, from: Uint8Array): number {
    // A saving file is opened read-only: the kernel refuses the write before the driver sees it.
    if (session instanceof SaveSession) return -Errno.EBADF;
    if (session.ended) return -Errno.ENODEV;
    let view = from;
    if (this.#writeFault !== undefined) {
      const left = this.#writeFault.afterBytes - this.#writeFaultUsed;
      if (left <= 0 && from.byteLength > 0) return -this.#writeFault.errno;
      view = from.subarray(0, Math.min(from.byteLength, left));
    }
    const n = session.write(view);
    if (n > 0 && this.#writeFault !== undefined) this.#writeFaultUsed += n;
    return n;
  }

  /** VFIO_DEVICE_RESET: 0 or −errno. Back to RUNNING, sessions ended. */
  reset(): number {
    if (this.#resetErrno !== undefined) return -this.#resetErrno;
    this.#endSession();
    this.#migState = MigState.RUNNING;
    this.#v1State = V1State.RUNNING;
    this.#v1Staged = undefined;
    return 0;
  }

  #arc(from: MigState, to: MigState): SetStateOutcome {
    const fault = this.#takeFault(from, to);
    if (fault !== undefined) {
      const leaveIn = fault.leaveIn ?? from;
      if (leaveIn !== from) {
        if (isMigState(leaveIn)) this.#migState = leaveIn;
        if (leaveIn === MigState.ERROR) this.#endSession();
      }
      return { ok: false, errno: fault.errno };
    }
    let session: EmulatedSession | undefined;
    const { STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P } = MigState;
    if ((from === RUNNING && to === PRE_COPY) || (from === RUNNING_P2P && to === PRE_COPY_P2P)) {
      session = this.#startSession(new SaveSession(this.state, false));
    } else if (from === STOP && to === STOP_COPY) {
      session = this.#startSession(new SaveSession(this.state, true));
    } else if (from === STOP && to === RESUMING) {
      session = this.#startSession(new ResumeSession(this.#config.stateSize, this.#config.pageSize));
    } else if (to === STOP_COPY && isPreCopyState(from)) {
      if (this.#session instanceof SaveSession) this.#session.enterFinalPhase();
    } else if (from === RESUMING) {
      const loaded = this.#session instanceof ResumeSession ? this.#session.validate() : undefined;
      if (loaded === undefined) return { ok: false, errno: Errno.EINVAL };
      this.state.replace(loaded);
      this.#endSession();
    } else if ((isPreCopyState(from) && !isPreCopyState(to)) || from === STOP_COPY) {
      this.#endSession();
    }
    this.arcLog.push([from, to]);
    this.#migState = to;
    return session !== undefined ? { ok: true, session } : { ok: true };
  }

  #takeFault(from: number, to: number): ArcFault | undefined {
    const fault = this.#arcFaults.find((f) => f.from === from && f.to === to);
    if (fault === undefined) return undefined;
    const used = (this.#arcFaultUses.get(fault) ?? 0) + 1;
    this.#arcFaultUses.set(fault, used);
    if (fault.times !== undefined && used >= fault.times) this.#arcFaults = this.#arcFaults.filter((f) => f !== fault);
    return fault;
  }

  #startSession<S extends EmulatedSession>(session: S): S {
    this.#endSession();
    this.#session = session;
    return session;
  }

  #endSession(): void {
    this.#session?.end();
    this.#session = undefined;
    this.#v1Staged = undefined;
  }

  #isRunning(): boolean {
    if (this.protocol === 'v1') return (this.#v1State & V1State.RUNNING) !== 0 && !isV1ErrorState(this.#v1State);
    return isRunningState(this.#migState);
  }

  // ---- v1 migration region ------------------------------------------------------------------

  #v1Read(offset: number, into: Uint8Array): number {
    if (offset >= V1_DATA_OFFSET) {
      into.set(this.#v1Data.subarray(offset - V1_DATA_OFFSET, offset - V1_DATA_OFFSET + into.byteLength));
      return into.byteLength;
    }
    const view = new DataView(into.buffer, into.byteOffset, into.byteLength);
    const session = this.#session;
    switch (`${offset}:${into.byteLength}`) {
      case '0:4':
        view.setUint32(0, this.#v1State, true);
        return 4;
      case '4:4':
        view.setUint32(0, 0, true);
        return 4;
      case '8:8': {
        // Reading pending_bytes confirms the staged data was consumed.
        this.#v1Staged = undefined;
        const pending = session instanceof SaveSession && !session.ended ? this.#v1Pending(session) : 0;
        view.setBigUint64(0, BigInt(pending), true);
        return 8;
      }
      case '16:8':
        if (session instanceof SaveSession && !session.ended && this.#v1Staged === undefined) {
          if (this.#readFault !== undefined && this.#readFault.afterBytes - this.#readFaultUsed <= 0) return -this.#readFault.errno;
          const limit = this.#readFault !== undefined ? this.#readFault.afterBytes - this.#readFaultUsed : this.#v1Data.byteLength;
          if (this.#config.dirtyPagesPerRead > 0) this.runWorkload(this.#config.dirtyPagesPerRead);
          this.#v1Staged = session.read(this.#v1Data.subarray(0, Math.min(limit, this.#v1Data.byteLength)));
          if (this.#readFault !== undefined) this.#readFaultUsed += this.#v1Staged;
        }
        view.setBigUint64(0, BigInt(V1_DATA_OFFSET), true);
        return 8;
      case '24:8':
        view.setBigUint64(0, BigInt(this.#v1Staged ?? 0), true);
        return 8;
      default:
        return -Errno.EINVAL; // fields must be accessed at their natural width and alignment
    }
  }

  #v1Pending(session: SaveSession): number {
    return session.final ? session.remainingBytes() : session.initialBytes() + session.dirtyBytes();
  }

  #v1Write(offset: number, from: Uint8Array): number {
    if (offset >= V1_DATA_OFFSET) {
      this.#v1Data.set(from, offset - V1_DATA_OFFSET);
      return from.byteLength;
    }
    const view = new DataView(from.buffer, from.byteOffset, from.byteLength);
    switch (`${offset}:${from.byteLength}`) {
      case '0:4': {
        const result = this.#v1SetState(view.getUint32(0, true));
        return result < 0 ? result : 4;
      }
      case '4:4':
        return 4; // reserved: writes are ignored
      case '24:8': {
        const session = this.#session;
        const size = view.getBigUint64(0, true);
        if (!(session instanceof ResumeSession) || session.ended) return -Errno.EINVAL;
        if (size > BigInt(this.#v1Data.byteLength)) return -Errno.EINVAL;
        const n = this.writeData(session, this.#v1Data.subarray(0, Number(size)));
        if (n < 0) return n;
        // A device that consumed less than data_size failed the chunk: the write fails whole.
        return n === Number(size) ? 8 : -Errno.EIO;
      }
      default:
        return -Errno.EINVAL; // pending_bytes and data_offset are read-only; odd widths are refused
    }
  }

  #v1SetState(value: number): number {
    const from = this.#v1State & V1State.MASK;
    const to = value & V1State.MASK;
    if (!isValidV1State(value) || isV1ErrorState(this.#v1State)) return -Errno.EINVAL;
    if (from === to) {
      this.#v1State = value >>> 0;
      return 0;
    }
    const fault = this.#takeFault(from, to);
    if (fault !== undefined) {
      const leaveIn = fault.leaveIn ?? from;
      this.#v1State = ((this.#v1State & ~V1State.MASK) | (leaveIn & V1State.MASK)) >>> 0;
      if (isV1ErrorState(this.#v1State)) this.#endSession();
      return -fault.errno;
    }
    const saving = (s: number): boolean => (s & V1State.SAVING) !== 0;
    if (from === V1State.RESUMING) {
      if (to !== V1State.RUNNING && to !== V1State.STOP) return -Errno.EINVAL;
      const loaded = this.#session instanceof ResumeSession ? this.#session.validate() : undefined;
      if (loaded === undefined) return -Errno.EINVAL;
      this.state.replace(loaded);
      this.#endSession();
    } else if (to === V1State.RESUMING) {
      if (saving(from)) return -Errno.EINVAL;
      this.#startSession(new ResumeSession(this.#config.stateSize, this.#config.pageSize));
    } else if (saving(to)) {
      const toStopCopy = (to & V1State.RUNNING) === 0;
      if (saving(from)) {
        if (!toStopCopy) return -Errno.EINVAL; // stop-and-copy back to pre-copy is blocked
        if (this.#session instanceof SaveSession) this.#session.enterFinalPhase();
      } else {
        this.#startSession(new SaveSession(this.state, toStopCopy));
      }
    } else if (saving(from)) {
      this.#endSession();
    }
    this.arcLog.push([from, to]);
    this.#v1State = value >>> 0;
    return 0;
  }
}
