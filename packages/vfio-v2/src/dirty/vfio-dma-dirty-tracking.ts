/**
 * QEMU's VFIO DMA dirty-tracking policy as a `@savevm/ram` dirty source, for one VFIO
 * address space (a type1 container or an iommufd IOAS) and the guest RAM mapped into it
 * (docs/design/vfio-dirty-tracking.md §6):
 *
 * - device DMA logging when every device has it, else the IOMMU (the type1 container, or
 *   the iommufd HWPTs with dirty tracking), else nothing;
 * - a device with no DMA dirty tracking blocks migration unless the VMM forces it, and then
 *   the pages it can write count as dirty at every sync;
 * - the bits are read only while no device that turned pre-copy tracking off is running;
 * - an unmap during a migration fetches the range's bits first.
 */
import { isRunningState, dirtyBitmapBytes, dmaLoggingOf, type DirtyTrackingUnsupported, type DmaDirtyMechanism, type VfioDevice } from '@savevm/vfio';
import type { DirtyBitmap, DirtySource, RamBlock } from '@savevm/ram';
import type { Disposable, MigrationBlockers } from '@savevm/core';
import type { VfioDmaBackend } from './dma-backends.js';
import { insideRanges, loggingRanges, type IovaSpan } from './dma-log-ranges.js';
import { VfioDmaTrackingError } from './dma-tracking-error.js';
import type { VfioDmaDeviceOptions, VfioDmaDirtyTrackingOptions } from './dma-tracking-options.js';
import { DeviceLoggingMechanism, IommufdHwptMechanism, NoMechanism, Type1Mechanism, type DirtyMechanism } from './dirty-mechanisms.js';
import type { TrackedDevice } from './tracked-device.js';

/** The page size of every bitmap the source reads: the RAM section's target page. */
const PAGE = 4096;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The blocker's words (QEMU 10.0's, without the device name the blocker's owner carries). */
export const NO_DMA_DIRTY_TRACKING = "VFIO device doesn't support device and IOMMU dirty tracking";

/** A device added to a {@link VfioDmaDirtyTracking}. */
export interface VfioDmaDeviceHandle {
  /** What the policy knows about it. */
  readonly tracked: TrackedDevice;
  /** Whether it blocks migration (no DMA dirty tracking, not forced). */
  readonly blocked: boolean;
  /** Takes it out (lifting its blocker). */
  remove(): void;
}

/** The DMA dirty source of one VFIO address space. */
export class VfioDmaDirtyTracking implements DirtySource {
  /** Names the source in errors and traces. */
  readonly name: string;
  /** Things worth telling the VMM: devices migrated without tracking, and why. */
  readonly warnings: string[] = [];
  readonly #backend: VfioDmaBackend;
  readonly #blockers: MigrationBlockers;
  readonly #devices: TrackedDevice[] = [];
  readonly #mapped = new Map<RamBlock, IovaSpan>();
  readonly #pending = new Map<RamBlock, Uint8Array>();
  readonly #scratch = new Map<RamBlock, Uint8Array>();
  readonly #started = new Set<RamBlock>();
  #active: DirtyMechanism | undefined;
  #loggedRanges: readonly IovaSpan[] = [];
  #failure: VfioDmaTrackingError | undefined;

  /**
   * @param backend the address space (a type1 container or an iommufd IOAS)
   * @param options where blockers go, the source's name
   */
  constructor(backend: VfioDmaBackend, options: VfioDmaDirtyTrackingOptions) {
    this.#backend = backend;
    this.#blockers = options.blockers;
    this.name = options.name ?? `vfio-dma:${backend.name}`;
  }

  /** The devices, in the order added. */
  get devices(): readonly TrackedDevice[] {
    return this.#devices;
  }

  /** The mechanism of the migration under way, or undefined between migrations. */
  get activeMechanism(): DmaDirtyMechanism | 'none' | undefined {
    return this.#active?.kind;
  }

  /** Whether a migration tracks now (between the first start and the last stop). */
  get tracking(): boolean {
    return this.#active !== undefined;
  }

  /**
   * The mechanism a migration starting now would use.
   * @throws VfioDmaTrackingError when probing the container fails
   */
  chooseMechanism(): DmaDirtyMechanism | 'none' {
    return this.#choose().mechanism.kind;
  }

  /** The mechanism, built: device logging, else the IOMMU's, else none. */
  #choose(): { mechanism: DirtyMechanism; ranges: readonly IovaSpan[] } {
    if (this.#devices.length > 0 && this.#devices.every((d) => d.logging !== undefined)) {
      return { mechanism: new DeviceLoggingMechanism(this.#devices), ranges: loggingRanges(this.#mapped.values()) };
    }
    const backend = this.#backend;
    if (backend.kind === 'type1') {
      let probe;
      try {
        probe = backend.iommu.probeDirtyTracking(PAGE);
      } catch (cause) {
        throw new VfioDmaTrackingError({ device: this.#names(), mechanism: 'type1-container', operation: 'probe (GET_INFO)', cause });
      }
      return { mechanism: probe.supported ? new Type1Mechanism(backend.iommu, this.#devices, probe.detail.maxBitmapBytes) : new NoMechanism(), ranges: [] };
    }
    if (this.#devices.some((d) => d.dirtyHwpt !== undefined)) return { mechanism: new IommufdHwptMechanism(backend.context.iommu, this.#devices), ranges: [] };
    return { mechanism: new NoMechanism(), ranges: [] };
  }

  /**
   * Adds a device, as QEMU's realize does: probes its DMA logging (PROBE of
   * DMA_LOGGING_START), attaches it on iommufd (to a HWPT with dirty tracking when its IOMMU
   * can track), and when it has neither, installs a blocker naming it — unless
   * `enableMigration` is `on`, which only warns.
   * @throws Error while a migration tracks
   */
  addDevice(device: VfioDevice, options: VfioDmaDeviceOptions = {}): VfioDmaDeviceHandle {
    if (this.tracking) throw new Error(`${this.name}: vfio device ${device.name} cannot be added while a migration tracks DMA`);
    let logging = dmaLoggingOf(device);
    let loggingRefusal: DirtyTrackingUnsupported | string | undefined;
    if (logging === undefined) loggingRefusal = 'not a device opened through a syscall layer';
    else {
      try {
        const probe = logging.probe();
        if (!probe.supported) {
          loggingRefusal = probe.refusal;
          logging = undefined;
        }
      } catch (error) {
        // QEMU takes any failure of the probe as "no DMA logging".
        loggingRefusal = error instanceof Error ? error.message : String(error);
        logging = undefined;
      }
    }
    if (logging !== undefined && options.deviceDirtyTracking === false) {
      loggingRefusal = 'turned off by the VMM (x-device-dirty-page-tracking=off)';
      logging = undefined;
    }
    const attachment = this.#backend.kind === 'iommufd' ? this.#backend.attach(device) : undefined;
    const dirtyHwpt = attachment?.dirtyHwpt;
    const untracked = logging === undefined && dirtyHwpt === undefined;
    const forced = untracked && options.enableMigration === 'on';
    let blocker: Disposable | undefined;
    if (untracked && !forced) blocker = this.#blockers.add(NO_DMA_DIRTY_TRACKING, device.name);
    if (forced) this.warnings.push(`${device.name}: ${NO_DMA_DIRTY_TRACKING}; migrating it anyway (enable-migration=on)`);
    const tracked: TrackedDevice = {
      device,
      name: device.name,
      logging,
      loggingRefusal,
      dirtyHwpt,
      iommuRefusal: attachment?.refusal,
      forced,
      preCopyDirtyTracking: options.preCopyDirtyTracking ?? true,
      state: options.state ?? (() => device.getState()),
      blocker,
    };
    this.#devices.push(tracked);
    return {
      tracked,
      blocked: blocker !== undefined,
      remove: () => {
        if (this.tracking) throw new Error(`${this.name}: vfio device ${device.name} cannot be removed while a migration tracks DMA`);
        const i = this.#devices.indexOf(tracked);
        if (i >= 0) this.#devices.splice(i, 1);
        blocker?.dispose();
      },
    };
  }

  /**
   * Maps a RAM block for DMA at its guest address (IOVA = guest physical address: no vIOMMU).
   * @throws Error when the block has no guest address; the kernel's error when the map fails
   */
  mapBlock(block: RamBlock): void {
    if (block.guestAddress === undefined) throw new Error(`${this.name}: RAM block ${block.idstr} has no guest address to map it at`);
    if (this.#mapped.has(block)) return;
    this.#backend.map(block.guestAddress, block.bytes);
    this.#mapped.set(block, { iova: block.guestAddress, length: block.usedLength });
  }

  /**
   * Unmaps a RAM block. During a migration the range's dirty bits are fetched first (type1:
   * in the same UNMAP_DMA; else a read, then the unmap) and reported at the next sync; a
   * failure fails the migration at that sync too.
   * @returns whether the block was mapped
   * @throws VfioDmaTrackingError when fetching the bits fails during a migration
   */
  unmapBlock(block: RamBlock): boolean {
    const span = this.#mapped.get(block);
    if (span === undefined) return false;
    const active = this.#active;
    if (active === undefined) {
      this.#backend.unmap(span.iova, span.length);
      this.#mapped.delete(block);
      return true;
    }
    const bits = new Uint8Array(dirtyBitmapBytes(block.pageCount));
    try {
      if (this.#uncovered(span)) {
        this.#backend.unmap(span.iova, span.length);
        bits.fill(0xff);
      } else if (active.unmapWithBits !== undefined) active.unmapWithBits(span.iova, span.length, PAGE, bits);
      else {
        active.read(span.iova, span.length, PAGE, bits, true);
        this.#backend.unmap(span.iova, span.length);
      }
    } catch (cause) {
      const error =
        cause instanceof VfioDmaTrackingError
          ? cause
          : new VfioDmaTrackingError({ device: this.#names(), mechanism: active.kind, operation: `unmap of block ${block.idstr}`, cause });
      this.#failure ??= error;
      throw error;
    }
    this.#mapped.delete(block);
    const pending = this.#pending.get(block);
    if (pending === undefined) this.#pending.set(block, bits);
    else for (let i = 0; i < bits.length; i++) pending[i] = (pending[i] as number) | (bits[i] as number);
    return true;
  }

  /** Whether `block` is mapped. */
  isMapped(block: RamBlock): boolean {
    return this.#mapped.has(block);
  }

  /** The RAM tracker starts `block`: the first start of a migration starts the chosen mechanism. */
  start(block: RamBlock): void {
    if (this.#started.size === 0) this.#startMechanism();
    this.#started.add(block);
  }

  /**
   * One sync of `block`: the bits an unmap fetched, then — when the gate is open — the
   * mechanism's bits for the block's range (every page when a device the mechanism cannot
   * see may write it).
   * @throws VfioDmaTrackingError naming the device, the mechanism and the step
   */
  sync(block: RamBlock, into: DirtyBitmap): void {
    if (this.#failure !== undefined) throw this.#failure;
    const pending = this.#pending.get(block);
    if (pending !== undefined) {
      this.#pending.delete(block);
      into.orLittleEndianBytes(pending);
    }
    const active = this.#active;
    const span = this.#mapped.get(block);
    if (active === undefined || span === undefined || !this.#logSyncNeeded(active)) return;
    if (this.#uncovered(span)) {
      into.setAll();
      return;
    }
    // A mechanism that only sets bits reports straight into the migration bitmap (its words
    // are the kernel's layout on a little-endian host) when they are whole u64 words; else
    // into a zeroed scratch bitmap, merged after.
    const direct = active.setOnly && LITTLE_ENDIAN && into.words.byteLength === dirtyBitmapBytes(block.pageCount);
    let target: Uint8Array;
    if (direct) target = new Uint8Array(into.words.buffer, into.words.byteOffset, into.words.byteLength);
    else {
      let scratch = this.#scratch.get(block);
      if (scratch === undefined) {
        scratch = new Uint8Array(dirtyBitmapBytes(block.pageCount));
        this.#scratch.set(block, scratch);
      } else scratch.fill(0);
      target = scratch;
    }
    try {
      active.read(span.iova, span.length, PAGE, target, false);
    } catch (cause) {
      if (direct) into.recount();
      this.#failure ??= cause instanceof VfioDmaTrackingError ? cause : new VfioDmaTrackingError({ device: this.#names(), mechanism: active.kind, operation: `sync of block ${block.idstr}`, cause });
      throw this.#failure;
    }
    if (direct) into.recount();
    else into.orLittleEndianBytes(target);
  }

  /** The RAM tracker stops `block`: the last stop stops the mechanism (a failure is thrown; the RAM section only warns). */
  stop(block: RamBlock): void {
    this.#started.delete(block);
    if (this.#started.size > 0) return;
    const active = this.#active;
    this.#active = undefined;
    this.#scratch.clear();
    this.#pending.clear();
    active?.stop();
  }

  #startMechanism(): void {
    this.#failure = undefined;
    this.#pending.clear();
    const { mechanism, ranges } = this.#choose();
    // Nothing mapped: no device is asked to log (START takes at least one range).
    if (!(mechanism.kind === 'device-dma-logging' && ranges.length === 0)) mechanism.start(ranges);
    this.#loggedRanges = ranges;
    this.#active = mechanism;
  }

  /**
   * QEMU's `vfio_log_sync_needed()`: false while a device that turned pre-copy tracking off
   * is in a running state (its DMA may still change pages; the bits wait in the kernel).
   */
  #logSyncNeeded(active: DirtyMechanism): boolean {
    for (const d of this.#devices) {
      if (d.preCopyDirtyTracking) continue;
      let state: number;
      try {
        state = d.state();
      } catch (cause) {
        this.#failure ??= new VfioDmaTrackingError({ device: d.name, mechanism: active.kind, operation: 'read the device state', cause });
        throw this.#failure;
      }
      if (isRunningState(state)) return false;
    }
    return true;
  }

  /** Whether a device may write `span` without the active mechanism seeing it. */
  #uncovered(span: IovaSpan): boolean {
    const active = this.#active;
    if (active === undefined) return false;
    if (this.#devices.some((d) => !active.covers(d))) return true;
    return active.kind === 'device-dma-logging' && !insideRanges(this.#loggedRanges, span.iova, span.length);
  }

  #names(): string {
    return this.#devices.map((d) => d.name).join(', ') || '(no device)';
  }
}
