/**
 * Access to one device's v1 migration region: the fields of `vfio_device_migration_info`
 * at their natural width and offset, and the data section, each access checked. Every
 * value the device reports is checked before it is used (a data offset inside the region
 * and past the header, a data size that fits the data section, byte counts that are safe
 * integers), so nothing is ever allocated or read from a length the device made up.
 */
import { DeviceMigrationInfoV1, V1InfoOffset, type VfioDevice, type VfioRegionInfo } from '@savevm/vfio';
import { VfioV1Error, type V1Phase } from './errors.js';

type Register = keyof typeof V1InfoOffset;

/** The v1 migration region of one device. */
export class V1MigrationRegion {
  readonly #scratch = new Uint8Array(8);
  readonly #view = new DataView(this.#scratch.buffer);

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

  /** Reads `into.byteLength` bytes of the data section at region offset `offset` (pread). */
  readData(offset: number, into: Uint8Array, phase: V1Phase): void {
    let n: number;
    try {
      n = this.device.readRegion(this.region, offset, into);
    } catch (cause) {
      throw this.#dataError(phase, `reading ${into.byteLength} data bytes at ${offset} failed`, cause);
    }
    if (n !== into.byteLength) throw this.#dataError(phase, `short read of data: ${n} of ${into.byteLength} bytes at ${offset}`);
  }

  /** Writes `from` into the data section at region offset `offset` (pwrite). */
  writeData(offset: number, from: Uint8Array, phase: V1Phase): void {
    let n: number;
    try {
      n = this.device.writeRegion(this.region, offset, from);
    } catch (cause) {
      throw this.#dataError(phase, `writing ${from.byteLength} data bytes at ${offset} failed`, cause);
    }
    if (n !== from.byteLength) throw this.#dataError(phase, `short write of data: ${n} of ${from.byteLength} bytes at ${offset}`);
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
