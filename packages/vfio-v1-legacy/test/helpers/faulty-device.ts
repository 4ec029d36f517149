import {
  Errno,
  V1InfoOffset,
  VfioSyscallError,
  VfioV1Region,
  type MappedRegionArea,
  type MigState,
  type RegionArea,
  type SetStateResult,
  type VfioDataFile,
  type VfioDevice,
  type VfioDeviceInfo,
  type VfioPrecopyInfo,
  type VfioRegionInfo,
} from '@savevm/vfio';

/** A v1 register by name. */
export type RegisterName = keyof typeof V1InfoOffset;

/** Make accesses to one register fail. */
export interface RegisterFault {
  readonly register: RegisterName;
  readonly op: 'read' | 'write';
  /** Accesses that still succeed before the fault fires (default 0). */
  readonly after?: number;
  /** errno (default EIO). */
  readonly errno?: number;
}

/**
 * A thin wrapper around a `VfioDevice` for faults the emulated device cannot inject: a
 * resized or hidden migration region, register accesses that fail, and register values
 * rewritten on the way back (pending_bytes that grows, a fake data_size…).
 * packages/vfio is not changed for these; see the report.
 */
export class FaultyV1Device implements VfioDevice {
  /** Replaces the migration region's size in region infos. */
  regionSize: number | undefined;
  /** Hides the migration region (no TYPE capability). */
  hideRegion = false;
  /** Rewrites a u64 register value read from the device. */
  rewrite: Partial<Record<RegisterName, (value: bigint) => bigint>> = {};
  /** Register accesses seen, by `read:<name>` / `write:<name>`. */
  readonly accesses = new Map<string, number>();
  #faults: RegisterFault[] = [];

  constructor(readonly inner: VfioDevice) {}

  get name(): string {
    return this.inner.name;
  }
  get closed(): boolean {
    return this.inner.closed;
  }

  failRegister(fault: RegisterFault): void {
    this.#faults.push(fault);
  }

  getInfo(): VfioDeviceInfo {
    return this.inner.getInfo();
  }

  getRegionInfo(index: number): VfioRegionInfo {
    return this.#adjust(this.inner.getRegionInfo(index));
  }

  findRegionByType(type: number, subtype: number): VfioRegionInfo | undefined {
    const region = this.inner.findRegionByType(type, subtype);
    if (region === undefined) return undefined;
    if (this.hideRegion && type === VfioV1Region.TYPE && subtype === VfioV1Region.SUBTYPE) return undefined;
    return this.#adjust(region);
  }

  readRegion(region: VfioRegionInfo, offset: number, into: Uint8Array): number {
    const register = this.#register(region, offset);
    if (register !== undefined) this.#check('read', register);
    const n = this.inner.readRegion(region, offset, into);
    const rewrite = register !== undefined ? this.rewrite[register] : undefined;
    if (rewrite !== undefined && into.byteLength === 8) {
      const view = new DataView(into.buffer, into.byteOffset, 8);
      view.setBigUint64(0, BigInt.asUintN(64, rewrite(view.getBigUint64(0, true))), true);
    }
    return n;
  }

  writeRegion(region: VfioRegionInfo, offset: number, from: Uint8Array): number {
    const register = this.#register(region, offset);
    if (register !== undefined) this.#check('write', register);
    return this.inner.writeRegion(region, offset, from);
  }

  mapRegionArea(region: VfioRegionInfo, area: RegionArea): MappedRegionArea {
    return this.inner.mapRegionArea(region, area);
  }

  reset(): void {
    this.inner.reset();
  }
  getMigrationFlags(): number {
    return this.inner.getMigrationFlags();
  }
  probeMigrationFlags(): number | undefined {
    return this.inner.probeMigrationFlags();
  }
  getState(): MigState {
    return this.inner.getState();
  }
  setState(target: MigState): SetStateResult {
    return this.inner.setState(target);
  }
  getStopCopySize(): number {
    return this.inner.getStopCopySize();
  }
  getPrecopyInfo(dataFile: VfioDataFile): VfioPrecopyInfo {
    return this.inner.getPrecopyInfo(dataFile);
  }
  close(): void {
    this.inner.close();
  }

  #adjust(region: VfioRegionInfo): VfioRegionInfo {
    if (this.regionSize === undefined || !this.#isMigrationRegion(region)) return region;
    return { ...region, size: this.regionSize };
  }

  #isMigrationRegion(region: VfioRegionInfo): boolean {
    return region.capabilities.some((c) => c.kind === 'type' && c.type === VfioV1Region.TYPE && c.subtype === VfioV1Region.SUBTYPE);
  }

  #register(region: VfioRegionInfo, offset: number): RegisterName | undefined {
    if (!this.#isMigrationRegion(region)) return undefined;
    return (Object.keys(V1InfoOffset) as RegisterName[]).find((name) => V1InfoOffset[name] === offset);
  }

  #check(op: 'read' | 'write', register: RegisterName): void {
    const key = `${op}:${register}`;
    const seen = this.accesses.get(key) ?? 0;
    this.accesses.set(key, seen + 1);
    const fault = this.#faults.find((f) => f.op === op && f.register === register);
    if (fault !== undefined && seen >= (fault.after ?? 0)) {
      throw new VfioSyscallError(fault.errno ?? Errno.EIO, op === 'read' ? 'pread' : 'pwrite', { device: this.name, op: `${op} ${register}` });
    }
  }
}
