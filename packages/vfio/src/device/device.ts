/**
 * {@link VfioDevice} over a device fd of any {@link Syscalls} layer: every call is the uAPI
 * ioctl with its byte-exact struct.
 */
import { Errno, VfioError, VfioSyscallError, isErrno } from '../errors.js';
import {
  MigState,
  VfioFeature,
  VfioFeatureFlags,
  VfioIoctl,
  VfioRegionFlags,
  isMigState,
  migStateName,
} from '../uapi/constants.js';
import { parseCapabilityChain } from '../uapi/capabilities.js';
import {
  DeviceInfo,
  FeatureMigDataSize,
  FeatureMigState,
  FeatureMigration,
  PrecopyInfo,
  RegionInfo,
  deviceFeaturePayload,
  encodeDeviceFeature,
} from '../uapi/structs.js';
import { checked, type Syscalls } from '../syscalls/syscalls.js';
import { FdDataFile, type DataFileOwner } from './data-file.js';
import { DeviceDmaLogging } from './dma-logging.js';
import { FdMappedRegionArea, RegionMapRefusedError, type MappedRegionArea, type RegionMappingOwner } from './region-mapping.js';
import type {
  RegionArea,
  SetStateResult,
  VfioDataFile,
  VfioDevice,
  VfioDeviceInfo,
  VfioPrecopyInfo,
  VfioRegionInfo,
} from './types.js';

/** Largest region-info buffer accepted (the kernel's requested argsz is not trusted beyond this). */
export const MAX_REGION_INFO_SIZE = 64 * 1024;

const FEATURE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(VfioFeature).map(([name, id]) => [id, name]),
);

function safeNumber(value: bigint, what: string, device: string, op: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new VfioError(`${what} ${value} is too large`, { device, op });
  return Number(value);
}

/** How {@link dmaLoggingOf} reaches a device's fd and syscall layer (not a method: not part of `VfioDevice`). */
const dmaLoggingAccess = new WeakMap<object, () => DeviceDmaLogging>();

/**
 * The DMA logging (`VFIO_DEVICE_FEATURE` DMA_LOGGING_*) of a device opened through a
 * syscall layer (any {@link FdVfioDevice}), bound to its fd; undefined for other devices.
 */
export function dmaLoggingOf(device: VfioDevice): DeviceDmaLogging | undefined {
  return dmaLoggingAccess.get(device)?.();
}

/** A VFIO device fd, driven through a {@link Syscalls} layer. */
export class FdVfioDevice implements VfioDevice {
  /** Device name (PCI address or mdev UUID). */
  readonly name: string;
  /** The device fd (valid until closed). */
  readonly fd: number;
  readonly #sys: Syscalls;
  readonly #release: () => void;
  readonly #dataFiles = new Set<FdDataFile>();
  readonly #owner: DataFileOwner;
  readonly #mappings = new Set<FdMappedRegionArea>();
  readonly #mappingOwner: RegionMappingOwner;
  #state: MigState | undefined;
  #closed = false;

  /**
   * Takes ownership of `fd`. `release` runs once when the device closes (drops its group or
   * iommufd reference).
   */
  constructor(sys: Syscalls, fd: number, name: string, release: () => void = () => {}) {
    this.#sys = sys;
    this.fd = fd;
    this.name = name;
    this.#release = release;
    this.#owner = {
      name,
      lastKnownState: () => this.#state,
      forget: (file) => this.#dataFiles.delete(file),
    };
    this.#mappingOwner = { name, syscalls: sys, forget: (area) => this.#mappings.delete(area) };
    dmaLoggingAccess.set(this, () => new DeviceDmaLogging(this.#sys, this.fd, this.name, (op) => this.#assertOpen(op)));
  }

  /** Whether the device has been closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** VFIO_DEVICE_GET_INFO. */
  getInfo(): VfioDeviceInfo {
    const buf = DeviceInfo.encode({ argsz: DeviceInfo.size, flags: 0, num_regions: 0, num_irqs: 0, cap_offset: 0, pad: 0 });
    this.#ioctl(VfioIoctl.DEVICE_GET_INFO, buf, 'VFIO_DEVICE_GET_INFO');
    const info = DeviceInfo.decode(buf);
    return { flags: info.flags, numRegions: info.num_regions, numIrqs: info.num_irqs };
  }

  /** VFIO_DEVICE_GET_REGION_INFO, retried once with the argsz the kernel asks for (bounded). */
  getRegionInfo(index: number): VfioRegionInfo {
    const op = `VFIO_DEVICE_GET_REGION_INFO(${index})`;
    let buf = RegionInfo.encode({ argsz: RegionInfo.size, flags: 0, index, cap_offset: 0, size: 0n, offset: 0n });
    this.#ioctl(VfioIoctl.DEVICE_GET_REGION_INFO, buf, op);
    let info = RegionInfo.decode(buf);
    if (info.argsz > buf.byteLength) {
      if (info.argsz > MAX_REGION_INFO_SIZE) {
        throw new VfioError(`region info wants ${info.argsz} bytes, limit ${MAX_REGION_INFO_SIZE}`, { device: this.name, op });
      }
      buf = new Uint8Array(info.argsz);
      RegionInfo.encode({ argsz: info.argsz, flags: 0, index, cap_offset: 0, size: 0n, offset: 0n }, buf);
      this.#ioctl(VfioIoctl.DEVICE_GET_REGION_INFO, buf, op);
      info = RegionInfo.decode(buf);
    }
    let capabilities: VfioRegionInfo['capabilities'] = [];
    if ((info.flags & VfioRegionFlags.CAPS) !== 0 && info.cap_offset !== 0) {
      try {
        capabilities = parseCapabilityChain(buf.subarray(0, Math.min(buf.byteLength, info.argsz)), info.cap_offset);
      } catch (error) {
        throw new VfioError(`bad capability chain: ${(error as Error).message}`, { device: this.name, op }, { cause: error });
      }
    }
    return {
      index: info.index,
      flags: info.flags,
      size: safeNumber(info.size, 'region size', this.name, op),
      offset: safeNumber(info.offset, 'region offset', this.name, op),
      capabilities,
    };
  }

  /** Scans regions for a TYPE capability with this type/subtype. */
  findRegionByType(type: number, subtype: number): VfioRegionInfo | undefined {
    const { numRegions } = this.getInfo();
    for (let index = 0; index < numRegions; index++) {
      let region: VfioRegionInfo;
      try {
        region = this.getRegionInfo(index);
      } catch (error) {
        if (isErrno(error, Errno.EINVAL)) continue; // a hole in the index space
        throw error;
      }
      if (region.capabilities.some((cap) => cap.kind === 'type' && cap.type === type && cap.subtype === subtype)) {
        return region;
      }
    }
    return undefined;
  }

  /** pread inside a region. */
  readRegion(region: VfioRegionInfo, offset: number, into: Uint8Array): number {
    this.#assertOpen('pread');
    this.#checkRegionRange(region, offset, into.byteLength, 'pread');
    return checked(this.#sys.pread(this.fd, into, region.offset + offset), 'pread', {
      device: this.name,
      op: `read region ${region.index} @${offset}+${into.byteLength}`,
    });
  }

  /** pwrite inside a region. */
  writeRegion(region: VfioRegionInfo, offset: number, from: Uint8Array): number {
    this.#assertOpen('pwrite');
    this.#checkRegionRange(region, offset, from.byteLength, 'pwrite');
    return checked(this.#sys.pwrite(this.fd, from, region.offset + offset), 'pwrite', {
      device: this.name,
      op: `write region ${region.index} @${offset}+${from.byteLength}`,
    });
  }

  /** mmap of one area of a region (MAP_SHARED, read/write), tracked until unmapped or closed. */
  mapRegionArea(region: VfioRegionInfo, area: RegionArea): MappedRegionArea {
    const offset = Number(area.offset);
    const size = Number(area.size);
    const op = `mmap region ${region.index} area @${String(area.offset)}+${String(area.size)}`;
    this.#assertOpen(op);
    if ((region.flags & VfioRegionFlags.MMAP) === 0) {
      throw new RegionMapRefusedError('not-mmappable', `region ${region.index} has no MMAP flag`, { device: this.name, op });
    }
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size <= 0 || offset + size > region.size) {
      throw new RegionMapRefusedError('outside-region', `the area is empty or not inside the ${region.size}-byte region`, { device: this.name, op });
    }
    const sys = this.#sys;
    if (sys.mmap === undefined || sys.munmap === undefined) {
      throw new RegionMapRefusedError('no-mmap-syscall', 'the syscall layer has no mmap', { device: this.name, op });
    }
    const writable = (region.flags & VfioRegionFlags.WRITE) !== 0;
    const result = sys.mmap(this.fd, region.offset + offset, size, writable);
    if (typeof result === 'number') throw new VfioSyscallError(result < 0 ? -result : Errno.EIO, 'mmap', { device: this.name, op });
    if (result.bytes.byteLength !== size) {
      sys.munmap(result);
      throw new VfioError(`mmap returned ${result.bytes.byteLength} bytes, not ${size}`, { device: this.name, op });
    }
    const mapped = new FdMappedRegionArea(this.#mappingOwner, result, region.index, offset, size, writable);
    this.#mappings.add(mapped);
    return mapped;
  }

  /** Region areas currently mapped through this device. */
  get mappedAreaCount(): number {
    return this.#mappings.size;
  }

  /** VFIO_DEVICE_RESET. */
  reset(): void {
    this.#ioctl(VfioIoctl.DEVICE_RESET, null, 'VFIO_DEVICE_RESET');
    this.#state = MigState.RUNNING;
  }

  /** GET MIGRATION. */
  getMigrationFlags(): number {
    const buf = this.#feature(VfioFeatureFlags.GET, VfioFeature.MIGRATION, FeatureMigration.size);
    return Number(FeatureMigration.decode(deviceFeaturePayload(buf)).flags & 0xffffffffn);
  }

  /** GET MIGRATION, ENOTTY → undefined. */
  probeMigrationFlags(): number | undefined {
    try {
      return this.getMigrationFlags();
    } catch (error) {
      if (isErrno(error, Errno.ENOTTY)) return undefined;
      throw error;
    }
  }

  /** GET MIG_DEVICE_STATE. */
  getState(): MigState {
    const payload = FeatureMigState.encode({ device_state: 0, data_fd: -1 });
    const buf = this.#feature(VfioFeatureFlags.GET, VfioFeature.MIG_DEVICE_STATE, payload);
    const state = FeatureMigState.decode(deviceFeaturePayload(buf)).device_state;
    if (!isMigState(state)) {
      throw new VfioError(`kernel reported unknown state ${state}`, { device: this.name, op: 'GET MIG_DEVICE_STATE' });
    }
    this.#state = state;
    return state;
  }

  /** SET MIG_DEVICE_STATE; a returned data_fd becomes a {@link VfioDataFile}. */
  setState(target: MigState): SetStateResult {
    const payload = FeatureMigState.encode({ device_state: target, data_fd: -1 });
    let buf: Uint8Array;
    try {
      buf = this.#feature(VfioFeatureFlags.SET, VfioFeature.MIG_DEVICE_STATE, payload, `→${migStateName(target)}`);
    } catch (error) {
      this.#refreshStateAfterFailure();
      throw error;
    }
    this.#state = target;
    const { data_fd: dataFd } = FeatureMigState.decode(deviceFeaturePayload(buf));
    if (dataFd < 0) return {};
    const file = new FdDataFile(this.#sys, dataFd, target === MigState.RESUMING ? 'resuming' : 'saving', this.#owner);
    this.#dataFiles.add(file);
    return { dataFile: file };
  }

  /** GET MIG_DATA_SIZE. */
  getStopCopySize(): number {
    const buf = this.#feature(VfioFeatureFlags.GET, VfioFeature.MIG_DATA_SIZE, FeatureMigDataSize.size);
    const length = FeatureMigDataSize.decode(deviceFeaturePayload(buf)).stop_copy_length;
    return safeNumber(length, 'stop_copy_length', this.name, 'GET MIG_DATA_SIZE');
  }

  /** VFIO_MIG_GET_PRECOPY_INFO on `dataFile`'s fd. */
  getPrecopyInfo(dataFile: VfioDataFile): VfioPrecopyInfo {
    const op = 'VFIO_MIG_GET_PRECOPY_INFO';
    if (!(dataFile instanceof FdDataFile) || dataFile.owner !== this.#owner) {
      throw new VfioError('data file was not opened by this device', { device: this.name, op });
    }
    if (dataFile.closed) throw new VfioSyscallError(Errno.EBADF, 'ioctl', { device: this.name, op });
    const buf = PrecopyInfo.encode({ argsz: PrecopyInfo.size, flags: 0, initial_bytes: 0n, dirty_bytes: 0n });
    checked(this.#sys.ioctl(dataFile.fd, VfioIoctl.MIG_GET_PRECOPY_INFO, buf), 'ioctl', { device: this.name, op });
    const info = PrecopyInfo.decode(buf);
    return {
      initialBytes: safeNumber(info.initial_bytes, 'initial_bytes', this.name, op),
      dirtyBytes: safeNumber(info.dirty_bytes, 'dirty_bytes', this.name, op),
      flags: info.flags,
    };
  }

  /** Unmaps mapped region areas, closes data files and the device fd, then releases the group/iommufd reference. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    let firstError: unknown;
    for (const area of [...this.#mappings]) {
      try {
        area.unmap();
      } catch (error) {
        firstError ??= error;
      }
    }
    for (const file of [...this.#dataFiles]) {
      try {
        file.close();
      } catch (error) {
        firstError ??= error;
      }
    }
    const result = this.#sys.close(this.fd);
    if (result < 0) firstError ??= new VfioSyscallError(-result, 'close', { device: this.name, op: 'close device fd' });
    try {
      this.#release();
    } catch (error) {
      firstError ??= error;
    }
    if (firstError !== undefined) throw firstError;
  }

  #feature(opFlags: number, feature: number, payload: Uint8Array | number, detail = ''): Uint8Array {
    const buf = encodeDeviceFeature(opFlags | feature, payload);
    const opName = opFlags === VfioFeatureFlags.SET ? 'SET' : opFlags === VfioFeatureFlags.GET ? 'GET' : 'PROBE';
    this.#ioctl(VfioIoctl.DEVICE_FEATURE, buf, `VFIO_DEVICE_FEATURE ${opName} ${FEATURE_NAMES[feature] ?? feature}${detail}`);
    return buf;
  }

  #ioctl(request: number, arg: Uint8Array | null, op: string): number {
    this.#assertOpen(op);
    return checked(this.#sys.ioctl(this.fd, request, arg), 'ioctl', { device: this.name, op });
  }

  #refreshStateAfterFailure(): void {
    try {
      this.getState();
    } catch {
      this.#state = undefined;
    }
  }

  #checkRegionRange(region: VfioRegionInfo, offset: number, length: number, op: string): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > region.size) {
      throw new VfioError(`range @${offset}+${length} outside the ${region.size}-byte region ${region.index}`, {
        device: this.name,
        op,
      });
    }
  }

  #assertOpen(op: string): void {
    if (this.#closed) throw new VfioError('device is closed', { device: this.name, op });
  }
}
