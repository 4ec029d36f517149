/**
 * Access to one device's v1 migration region: the fields of `vfio_device_migration_info`
 * at their natural width and offset, and the data section, each access checked. Every
 * value the device reports is checked before it is used (a data offset inside the region
 * and past the header, a data size that fits the data section, byte counts that are safe
 * integers), so nothing is ever allocated or read from a length the device made up.
 * Data bytes go through the mapped sparse-mmap areas between {@link V1MigrationRegion.mapDataSection}
 * and {@link V1MigrationRegion.unmapDataSection} when one covers the chunk, else through pread/pwrite.
 */
import { DeviceMigrationInfoV1, V1InfoOffset, type VfioDevice, type VfioRegionInfo } from '@savevm/vfio';
import { V1DataSectionMappings } from './data-section-mapping.js';
import { VfioV1Error, type V1Phase } from './errors.js';
import { traceVfioV1 } from './tracing.js';

type Register = keyof typeof V1InfoOffset;

/** The v1 migration region of one device. */
export class V1MigrationRegion {
  readonly #scratch = new Uint8Array(8);
  readonly #view = new DataView(this.#scratch.buffer);
  #mapped: V1DataSectionMappings | undefined;

  /** @param device the open device; @param region its migration region (see `requireMigrationRegion`) */
  constructor(
    readonly device: VfioDevice,
    readonly region: VfioRegionInfo,
  ) {}

  /** The device's name, for messages. */
  get deviceName(): string {
    return this.device.name;
  }

  /** `device_state` (u32 at 0). */
  readDeviceState(phase: V1Phase): number {
    this.#read('device_state', 4, phase);
    return this.#view.getUint32(0, true);
  }

  /** Writes `device_state`; the device validates the change. */
  writeDeviceState(value: number, phase: V1Phase): void {
    this.#view.setUint32(0, value >>> 0, true);
    this.#write('device_state', 4, phase);
  }

  /** `pending_bytes` (u64 at 8), checked to be a safe integer. */
  readPendingBytes(phase: V1Phase): number {
    this.#read('pending_bytes', 8, phase);
    return this.#safe(this.#view.getBigUint64(0, true), 'pending_bytes', phase);
  }

  /**
   * `data_offset` (u64 at 16): asks the device to stage data (save) or says where to put it
   * (load). Checked to lie past the header and inside the region.
   */
  readDataOffset(phase: V1Phase): number {
    this.#read('data_offset', 8, phase);
    const raw = this.#view.getBigUint64(0, true);
    if (raw < BigInt(DeviceMigrationInfoV1.size) || raw >= BigInt(this.region.size)) {
      throw this.#insane(phase, `data_offset ${raw} is not between the ${DeviceMigrationInfoV1.size}-byte header and the region's end (${this.region.size})`);
    }
    return Number(raw);
  }

  /** Bytes the data section holds when it starts at `dataOffset`. */
  dataSectionSize(dataOffset: number): number {
    return this.region.size - dataOffset;
  }

  /** `data_size` (u64 at 24) while saving: checked to fit the data section at `dataOffset`. */
  readDataSize(dataOffset: number, phase: V1Phase): number {
    this.#read('data_size', 8, phase);
    const raw = this.#view.getBigUint64(0, true);
    const room = this.dataSectionSize(dataOffset);
    if (raw > BigInt(room)) {
      throw this.#insane(phase, `data_size ${raw} is larger than the ${room}-byte data section at offset ${dataOffset}`);
    }
    return Number(raw);
  }

  /** Writes `data_size` while resuming: the device consumes the chunk before this returns. */
  writeDataSize(size: number, phase: V1Phase): void {
    this.#view.setBigUint64(0, BigInt(size), true);
    this.#write('data_size', 8, phase);
  }

  /** How data bytes move now: through mapped areas (`mmap`) or pread/pwrite. */
  get dataPath(): 'mmap' | 'pread' {
    return this.#mapped !== undefined ? 'mmap' : 'pread';
  }

  /**
   * Maps the region's sparse-mmap areas for this migration (save or load setup), replacing
   * any earlier mapping. When the region has none, or mmap fails, data moves through
   * pread/pwrite for the whole migration; the choice and its reason go to the
   * `vfio_v1_data_path` trace point. Returns the path chosen.
   */
  mapDataSection(phase: 'save-setup' | 'load-setup'): 'mmap' | 'pread' {
    this.unmapDataSectionQuietly();
    const choice = V1DataSectionMappings.map(this.device, this.region);
    this.#mapped = choice.path === 'mmap' ? choice.mappings : undefined;
    traceVfioV1('vfio_v1_data_path', {
      device: this.deviceName,
      phase,
      path: choice.path,
      areas: choice.path === 'mmap' ? choice.mappings.areaCount : 0,
      reason: choice.path === 'pread' ? choice.reason : '',
    });
    return choice.path;
  }

  /**
   * Unmaps the data section (save or load cleanup); idempotent. Data moves through
   * pread/pwrite afterwards.
   * @throws VfioV1Error (`data-io`) when munmap fails; the areas count as unmapped anyway
   */
  unmapDataSection(phase: V1Phase): void {
    const mapped = this.#mapped;
    this.#mapped = undefined;
    if (mapped === undefined) return;
    try {
      mapped.release();
    } catch (cause) {
      throw this.#dataError(phase, 'unmapping the data section failed', cause);
    }
  }

  /**
   * {@link unmapDataSection} where a munmap error must not replace what is being reported (a
   * failure path, or a load cleanup that still has to reset the device). The areas are
   * forgotten either way.
   */
  unmapDataSectionQuietly(): void {
    const mapped = this.#mapped;
    this.#mapped = undefined;
    try {
      mapped?.release();
    } catch {
      // Already forgotten; the caller is reporting something else.
    }
  }

  /**
   * Reads `into.byteLength` bytes of the data section at region offset `offset`: copied out
   * of a mapped area that covers them, else pread.
   */
  readData(offset: number, into: Uint8Array, phase: V1Phase): void {
    const span = this.#mappedSpan(offset, into.byteLength, 'read', phase);
    if (span !== undefined) {
      into.set(span);
      return;
    }
    let n: number;
    try {
      n = this.device.readRegion(this.region, offset, into);
    } catch (cause) {
      throw this.#dataError(phase, `reading ${into.byteLength} data bytes at ${offset} failed`, cause);
    }
    if (n !== into.byteLength) throw this.#dataError(phase, `short read of data: ${n} of ${into.byteLength} bytes at ${offset}`);
  }

  /** Writes `from` into the data section at region offset `offset`: copied into a mapped area that covers it, else pwrite. */
  writeData(offset: number, from: Uint8Array, phase: V1Phase): void {
    const span = this.#mappedSpan(offset, from.byteLength, 'write', phase);
    if (span !== undefined) {
      span.set(from);
      return;
    }
    let n: number;
    try {
      n = this.device.writeRegion(this.region, offset, from);
    } catch (cause) {
      throw this.#dataError(phase, `writing ${from.byteLength} data bytes at ${offset} failed`, cause);
    }
    if (n !== from.byteLength) throw this.#dataError(phase, `short write of data: ${n} of ${from.byteLength} bytes at ${offset}`);
  }

  #mappedSpan(offset: number, length: number, access: 'read' | 'write', phase: V1Phase): Uint8Array | undefined {
    if (this.#mapped === undefined) return undefined;
    try {
      return this.#mapped.span(offset, length, access);
    } catch (cause) {
      throw this.#dataError(phase, `the mapped data section at ${offset}+${length} is not usable`, cause);
    }
  }

  #read(field: Register, width: 4 | 8, phase: V1Phase): void {
    const into = this.#scratch.subarray(0, width);
    let n: number;
    try {
      n = this.device.readRegion(this.region, V1InfoOffset[field], into);
    } catch (cause) {
      throw new VfioV1Error({ device: this.deviceName, phase, code: 'register-io', detail: `reading ${field} failed`, cause });
    }
    if (n !== width) {
      throw new VfioV1Error({ device: this.deviceName, phase, code: 'register-io', detail: `short read of ${field}: ${n} of ${width} bytes` });
    }
  }

  #write(field: Register, width: 4 | 8, phase: V1Phase): void {
    const from = this.#scratch.subarray(0, width);
    let n: number;
    try {
      n = this.device.writeRegion(this.region, V1InfoOffset[field], from);
    } catch (cause) {
      throw new VfioV1Error({ device: this.deviceName, phase, code: 'register-io', detail: `writing ${field} failed`, cause });
    }
    if (n !== width) {
      throw new VfioV1Error({ device: this.deviceName, phase, code: 'register-io', detail: `short write of ${field}: ${n} of ${width} bytes` });
    }
  }

  #safe(value: bigint, field: string, phase: V1Phase): number {
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw this.#insane(phase, `${field} ${value} is too large to be real`);
    return Number(value);
  }

  #insane(phase: V1Phase, detail: string): VfioV1Error {
    return new VfioV1Error({ device: this.deviceName, phase, code: 'insane-register', detail });
  }

  #dataError(phase: V1Phase, detail: string, cause?: unknown): VfioV1Error {
    return new VfioV1Error({ device: this.deviceName, phase, code: 'data-io', detail, ...(cause !== undefined && { cause }) });
  }
}
