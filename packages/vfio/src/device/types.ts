/**
 * The device-level contract the VFIO migration handlers program against. One implementation
 * ({@link FdVfioDevice}) drives any {@link Syscalls} layer, so a device opened on the real
 * kernel and one opened on the emulated kernel behave identically from the caller's side.
 */
import type { MigState } from '../uapi/constants.js';
import type { RegionCapability } from '../uapi/capabilities.js';
import type { MappedRegionArea } from './region-mapping.js';

/** What `VFIO_DEVICE_GET_INFO` says about a device. */
export interface VfioDeviceInfo {
  /** `VfioDeviceFlags` bits (RESET, PCI, …). */
  readonly flags: number;
  /** Number of regions. */
  readonly numRegions: number;
  /** Number of IRQ indexes. */
  readonly numIrqs: number;
}

/** What `VFIO_DEVICE_GET_REGION_INFO` says about one region, with its capability chain decoded. */
export interface VfioRegionInfo {
  /** Region index. */
  readonly index: number;
  /** `VfioRegionFlags` bits (READ, WRITE, MMAP, CAPS). */
  readonly flags: number;
  /** Region size, bytes. */
  readonly size: number;
  /** Offset of the region in the device fd (for pread/pwrite). */
  readonly offset: number;
  /** Decoded capabilities (empty when the region has none). */
  readonly capabilities: readonly RegionCapability[];
}

/** A byte range inside a region: a sparse-mmap area (its `bigint` fields fit) or any part of one. */
export interface RegionArea {
  /** Offset inside the region, bytes. */
  readonly offset: number | bigint;
  /** Size, bytes. */
  readonly size: number | bigint;
}

/** `VFIO_MIG_GET_PRECOPY_INFO` result. */
export interface VfioPrecopyInfo {
  /** Bytes of the initial pre-copy image still to read. */
  readonly initialBytes: number;
  /** Bytes dirtied since they were read (estimate). */
  readonly dirtyBytes: number;
  /** Output flags (`VFIO_PRECOPY_INFO_REINIT`). */
  readonly flags: number;
}

/**
 * Outcome of one read on a data file:
 * - `data`: `bytes` (> 0) bytes were read into the buffer;
 * - `end`: the stream has ended for good (read returned 0 in STOP_COPY, or on a resume file);
 * - `no-data-yet`: pre-copy has nothing for now (ENOMSG, or 0 from drivers such as mtty while
 *   the device is in PRE_COPY/PRE_COPY_P2P); more may come, ask PRECOPY_INFO or read later;
 * - `session-ended`: ENODEV, the session this file belonged to is over (state left, reset).
 */
export type DataReadResult =
  | {
      /** Bytes were read into the buffer. */
      readonly kind: 'data';
      /** How many bytes were read (at least 1). */
      readonly bytes: number;
    }
  | {
      /** read returned 0 in STOP_COPY: the device's stream is complete. */
      readonly kind: 'end';
    }
  | {
      /** ENOMSG in PRE_COPY: nothing to read right now; more may come later. */
      readonly kind: 'no-data-yet';
    }
  | {
      /** ENODEV: the session is over (state left or device reset). */
      readonly kind: 'session-ended';
    };

/**
 * Zero-copy access to a saving data file whose fd splice(2) accepts as input (a pipe): the
 * kernel moves the bytes into the stream's fd without a copy through user space. Structurally
 * the `SpliceSource` of `@savevm/stream`.
 */
export interface DataSpliceSource {
  /**
   * Bytes readable now without blocking (FIONREAD), after briefly yielding the CPU when there
   * are none yet; 0 means "none now, or the end" (do a plain read to find out), 'unsupported'
   * that the fd does not answer FIONREAD (a kernel data_fd: use the plain read for good).
   */
  readyBytes(): number | 'unsupported';
  /**
   * splice(2) of up to `n` bytes into `fd` at its current position; bytes moved (0: the data
   * ended), or 'unsupported' when the kernel refuses this pair of fds (EINVAL), in which case
   * nothing moved and the file stops offering the splice path.
   */
  spliceTo(fd: number, n: number): number | 'unsupported';
  /** Plain read(2) into `into` (the fallback when splice is refused); bytes read, 0 at the end. */
  read(into: Uint8Array): Promise<number>;
}

/**
 * Zero-copy writes into a resuming data file whose fd splice(2) accepts as output (a pipe):
 * the stream's bytes go from its fd into the data_fd without a copy through user space.
 * Structurally the `SpliceSink` of `@savevm/stream`.
 */
export interface DataSpliceSink {
  /**
   * splice(2) of up to `n` bytes from `fd` into the data_fd without blocking (after briefly
   * yielding the CPU while it is full); bytes moved (0: `fd` ended), 'busy' when it stayed
   * full (write this chunk the plain way), 'unsupported' when the kernel refuses the pair (the
   * file then stops offering the path).
   */
  spliceFrom(fd: number, n: number): number | 'busy' | 'unsupported';
}

/**
 * The `data_fd` of one migration session (saving or resuming). Reads and writes never block
 * the event loop. Any errno other than those mapped in {@link DataReadResult} throws a
 * `VfioSyscallError` naming the device and the operation.
 */
export interface VfioDataFile {
  /** Whether this file came from a saving arc (read) or from STOP→RESUMING (write). */
  readonly direction: 'saving' | 'resuming';
  /** Whether {@link close} has run. */
  readonly closed: boolean;
  /** Reads up to `into.byteLength` bytes of the device's stream (use a page-aligned, reused buffer). */
  read(into: Uint8Array): Promise<DataReadResult>;
  /** Writes all of `from` to the device (loops over short writes). */
  write(from: Uint8Array): Promise<void>;
  /** Closes the fd. Idempotent. */
  close(): void;
  /**
   * Optional capability: a zero-copy view of a saving file's bytes, when its fd may be a
   * splice(2) input; `undefined` when not offered (emulated devices, resuming files, or once
   * the kernel refused). Ask once per file.
   */
  spliceSource?(): DataSpliceSource | undefined;
  /** Optional capability: the zero-copy path into a resuming file (see {@link DataSpliceSink}). */
  spliceSink?(): DataSpliceSink | undefined;
}

/** Result of a successful {@link VfioDevice.setState}. */
export interface SetStateResult {
  /** The new session's data file when the final arc opened one (data_fd ≠ −1). */
  readonly dataFile?: VfioDataFile;
}

/**
 * An open VFIO device: control through synchronous ioctls, bulk data through
 * {@link VfioDataFile}. Every failure throws a `VfioSyscallError` (errno, name, syscall, ioctl,
 * device) or a `VfioError`.
 */
export interface VfioDevice {
  /** Device name (PCI address or mdev UUID). */
  readonly name: string;
  /** Whether {@link close} has run. */
  readonly closed: boolean;
  /** VFIO_DEVICE_GET_INFO. */
  getInfo(): VfioDeviceInfo;
  /** VFIO_DEVICE_GET_REGION_INFO with the capability chain. */
  getRegionInfo(index: number): VfioRegionInfo;
  /** First region whose TYPE capability matches, if any (v1 migration region: 3/1). */
  findRegionByType(type: number, subtype: number): VfioRegionInfo | undefined;
  /** pread of `into.byteLength` bytes at `offset` inside a region; returns bytes read. */
  readRegion(region: VfioRegionInfo, offset: number, into: Uint8Array): number;
  /** pwrite of `from` at `offset` inside a region; returns bytes written. */
  writeRegion(region: VfioRegionInfo, offset: number, from: Uint8Array): number;
  /**
   * mmap (MAP_SHARED, read and write) of `area` of `region`, e.g. one area of its sparse-mmap
   * capability. Throws a `RegionMapRefusedError` for a region without the MMAP flag, an area
   * outside the region or a syscall layer without mmap, and a `VfioSyscallError` (errno
   * name, `mmap`) when the kernel refuses. The device tracks the mapping: {@link close}
   * unmaps whatever is still mapped.
   */
  mapRegionArea(region: VfioRegionInfo, area: RegionArea): MappedRegionArea;
  /** VFIO_DEVICE_RESET: back to RUNNING, every session ended (old data files answer ENODEV). */
  reset(): void;
  /** VFIO_DEVICE_FEATURE GET MIGRATION: the `VfioMigrationFlags`; throws ENOTTY without v2 migration. */
  getMigrationFlags(): number;
  /** Like {@link getMigrationFlags} but `undefined` instead of throwing ENOTTY. */
  probeMigrationFlags(): number | undefined;
  /** VFIO_DEVICE_FEATURE GET MIG_DEVICE_STATE. */
  getState(): MigState;
  /**
   * VFIO_DEVICE_FEATURE SET MIG_DEVICE_STATE. The kernel walks multi-arc paths itself. On
   * failure the device may be in any state along the path: re-read it with {@link getState}.
   */
  setState(target: MigState): SetStateResult;
  /** VFIO_DEVICE_FEATURE GET MIG_DATA_SIZE (`stop_copy_length`), valid in every state. */
  getStopCopySize(): number;
  /** VFIO_MIG_GET_PRECOPY_INFO on a saving data file (EINVAL outside pre-copy, ENOTTY without it). */
  getPrecopyInfo(dataFile: VfioDataFile): VfioPrecopyInfo;
  /** Unmaps every region area still mapped, closes the device fd and every data file it handed out, and releases its group/iommufd. */
  close(): void;
}
