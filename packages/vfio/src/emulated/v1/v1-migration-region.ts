/**
 * The v1 migration region of the emulated device (deprecated protocol): `struct
 * vfio_device_migration_info` at offset 0, `device_state` writes as state arcs, and the data
 * section the save and load sequences move chunks through (docs/design/vfio-uapi.md §7).
 */
import { Errno } from '../../errors.js';
import { V1State, VFIO_PCI_NUM_REGIONS, VfioRegionFlags, VfioV1Region, isV1ErrorState, isValidV1State } from '../../uapi/constants.js';
import type { RegionCapability } from '../../uapi/capabilities.js';
import type { RegionBacking } from '../device-regions.js';
import type { MigrationInterface, MigrationParts } from '../migration-interface.js';
import { ResumeSession } from '../resume-session.js';
import { SaveSession } from '../save-session.js';
import type { SessionDataIo } from '../session-data-io.js';

/** Offset of the v1 data section inside the migration region. */
export const V1_DATA_OFFSET = 4096;
/** Index of the v1 migration region: the first after the PCI regions. */
export const V1_REGION_INDEX = VFIO_PCI_NUM_REGIONS;

/** How the v1 region is laid out, and what it reads through. */
export interface V1RegionOptions {
  /** Size of the data section, bytes. */
  readonly dataSectionSize: number;
  /** Whether the region advertises its data section with a sparse-mmap capability. */
  readonly sparseMmap: boolean;
  /** Runs before each chunk is read out of the session (the device's dirtying workload). */
  readonly beforeRead: () => void;
  /** Writes a loaded chunk into the session (with the write faults). */
  readonly io: SessionDataIo;
}

const saving = (state: number): boolean => (state & V1State.SAVING) !== 0;

/** The v1 migration region of one emulated device: its migration interface and its region. */
export class EmulatedV1Region implements MigrationInterface, RegionBacking {
  /** Readable, writable, with capabilities (and mappable with a sparse-mmap area). */
  readonly flags: number;
  /** The header page and the data section. */
  readonly size: number;
  /** The sparse-mmap area (if advertised) and the v1 region type. */
  readonly capabilities: readonly RegionCapability[];
  /** This region, after the PCI ones. */
  readonly regions: readonly RegionBacking[] = [this];
  readonly #data: Uint8Array;
  readonly #options: V1RegionOptions;
  #state: number = V1State.RUNNING;
  /** Bytes of the current chunk staged in the data section, until pending_bytes is read again. */
  #staged: number | undefined;

  /**
   * @param parts the device's state, session, faults and arc log
   * @param options the region's layout and data path
   */
  constructor(
    private readonly parts: MigrationParts,
    options: V1RegionOptions,
  ) {
    this.#options = options;
    this.#data = new Uint8Array(options.dataSectionSize);
    const capabilities: RegionCapability[] = [];
    let flags = VfioRegionFlags.READ | VfioRegionFlags.WRITE | VfioRegionFlags.CAPS;
    if (options.sparseMmap) {
      flags |= VfioRegionFlags.MMAP;
      capabilities.push({ kind: 'sparse-mmap', version: 1, areas: [{ offset: BigInt(V1_DATA_OFFSET), size: BigInt(this.#data.byteLength) }] });
    }
    capabilities.push({ kind: 'type', version: 1, type: VfioV1Region.TYPE, subtype: VfioV1Region.SUBTYPE });
    this.flags = flags;
    this.size = V1_DATA_OFFSET + this.#data.byteLength;
    this.capabilities = capabilities;
    // A staged chunk belongs to its session.
    parts.sessions.onEnd(() => {
      this.#staged = undefined;
    });
  }

  /** The current `device_state` value. */
  get state(): number {
    return this.#state;
  }

  /** The current `device_state` value, for the DMA log. */
  get stateValue(): number {
    return this.#state;
  }

  /** Whether the `_RUNNING` bit is set outside an error state. */
  isRunning(): boolean {
    return (this.#state & V1State.RUNNING) !== 0 && !isV1ErrorState(this.#state);
  }

  /** Back to `_RUNNING`, nothing staged. */
  reset(): void {
    this.#state = V1State.RUNNING;
    this.#staged = undefined;
  }

  /** pread: the data section as bytes; the header's fields at their natural width and alignment. */
  read(offset: number, into: Uint8Array): number {
    if (offset >= V1_DATA_OFFSET) {
      into.set(this.#data.subarray(offset - V1_DATA_OFFSET, offset - V1_DATA_OFFSET + into.byteLength));
      return into.byteLength;
    }
    const view = new DataView(into.buffer, into.byteOffset, into.byteLength);
    const session = this.parts.sessions.current;
    switch (`${offset}:${into.byteLength}`) {
      case '0:4':
        view.setUint32(0, this.#state, true);
        return 4;
      case '4:4':
        view.setUint32(0, 0, true);
        return 4;
      case '8:8': {
        // Reading pending_bytes confirms the staged data was consumed.
        this.#staged = undefined;
        const pending = session instanceof SaveSession && !session.ended ? this.#pending(session) : 0;
        view.setBigUint64(0, BigInt(pending), true);
        return 8;
      }
      case '16:8':
        if (session instanceof SaveSession && !session.ended && this.#staged === undefined) {
          const gate = this.parts.faults.reads;
          const left = gate.remaining();
          if (left <= 0) return -gate.errno;
          this.#options.beforeRead();
          this.#staged = session.read(this.#data.subarray(0, Math.min(left, this.#data.byteLength)));
          gate.record(this.#staged);
        }
        view.setBigUint64(0, BigInt(V1_DATA_OFFSET), true);
        return 8;
      case '24:8':
        view.setBigUint64(0, BigInt(this.#staged ?? 0), true);
        return 8;
      default:
        return -Errno.EINVAL; // fields must be accessed at their natural width and alignment
    }
  }

  /** pwrite: the data section as bytes; `device_state` and `data_size` as the protocol's steps. */
  write(offset: number, from: Uint8Array): number {
    if (offset >= V1_DATA_OFFSET) {
      this.#data.set(from, offset - V1_DATA_OFFSET);
      return from.byteLength;
    }
    const view = new DataView(from.buffer, from.byteOffset, from.byteLength);
    switch (`${offset}:${from.byteLength}`) {
      case '0:4': {
        const result = this.#setState(view.getUint32(0, true));
        return result < 0 ? result : 4;
      }
      case '4:4':
        return 4; // reserved: writes are ignored
      case '24:8': {
        const session = this.parts.sessions.current;
        const size = view.getBigUint64(0, true);
        if (!(session instanceof ResumeSession) || session.ended) return -Errno.EINVAL;
        if (size > BigInt(this.#data.byteLength)) return -Errno.EINVAL;
        const n = this.#options.io.write(session, this.#data.subarray(0, Number(size)));
        if (n < 0) return n;
        // A device that consumed less than data_size failed the chunk: the write fails whole.
        return n === Number(size) ? 8 : -Errno.EIO;
      }
      default:
        return -Errno.EINVAL; // pending_bytes and data_offset are read-only; odd widths are refused
    }
  }

  /** mmap: the data section (the sparse-mmap area); EINVAL for the header page. */
  map(offset: number, length: number): Uint8Array | number {
    if (offset < V1_DATA_OFFSET) return -Errno.EINVAL;
    return this.#data.subarray(offset - V1_DATA_OFFSET, offset - V1_DATA_OFFSET + length);
  }

  #pending(session: SaveSession): number {
    return session.final ? session.remainingBytes() : session.initialBytes() + session.dirtyBytes();
  }

  #setState(value: number): number {
    const { sessions } = this.parts;
    const from = this.#state & V1State.MASK;
    const to = value & V1State.MASK;
    if (!isValidV1State(value) || isV1ErrorState(this.#state)) return -Errno.EINVAL;
    if (from === to) {
      this.#state = value >>> 0;
      return 0;
    }
    const fault = this.parts.faults.arcs.take(from, to);
    if (fault !== undefined) {
      const leaveIn = fault.leaveIn ?? from;
      this.#state = ((this.#state & ~V1State.MASK) | (leaveIn & V1State.MASK)) >>> 0;
      if (isV1ErrorState(this.#state)) sessions.end();
      return -fault.errno;
    }
    if (from === V1State.RESUMING) {
      if (to !== V1State.RUNNING && to !== V1State.STOP) return -Errno.EINVAL;
      const loaded = sessions.current instanceof ResumeSession ? sessions.current.validate() : undefined;
      if (loaded === undefined) return -Errno.EINVAL;
      this.parts.state.replace(loaded);
      sessions.end();
    } else if (to === V1State.RESUMING) {
      if (saving(from)) return -Errno.EINVAL;
      sessions.start(new ResumeSession(this.parts.stateSize, this.parts.pageSize));
    } else if (saving(to)) {
      const toStopCopy = (to & V1State.RUNNING) === 0;
      if (saving(from)) {
        if (!toStopCopy) return -Errno.EINVAL; // stop-and-copy back to pre-copy is blocked
        if (sessions.current instanceof SaveSession) sessions.current.enterFinalPhase();
      } else {
        sessions.start(new SaveSession(this.parts.state, toStopCopy));
      }
    } else if (saving(from)) {
      sessions.end();
    }
    this.parts.arcLog.push([from, to]);
    this.#state = value >>> 0;
    return 0;
  }
}
