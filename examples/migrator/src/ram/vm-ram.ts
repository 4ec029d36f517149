/**
 * The VM's guest RAM as `--memory` makes it: one block named `ram` (QEMU's idstr for
 * `-M none`) in memory the CLI allocates, filled from the seed, registered with the
 * session as QEMU's `ram` section through `@savevm/ram`, and — on a running source — the
 * guest that dirties it. On the source its digest for the state check is taken on a worker
 * thread as soon as the VM stops. It reports itself like a device for the summary.
 */
import type { Disposable, SaveStateEntry } from '@savevm/core';
import { GuestRam, type RamBlock, registerRam } from '@savevm/ram';
import type { MigrationSession } from '@savevm/session';
import type { MemorySpec } from '../args/memory-spec.js';
import type { DeviceStateReport } from '../devices/opened-device.js';
import { sha256Hex } from '../devices/state-digest.js';
import { allocateHugePageMemory } from '@savevm/vfio';
import { DigestThread } from './digest-thread.js';
import { RAM_GUEST_PRIORITY, RamGuest } from './ram-guest.js';
import { fillSeeded, firstSeededDifference } from '../devices/seeded-bytes.js';

/** The RAM block's idstr, and its name in messages and the summary: QEMU's for `-M none`. */
export const RAM_BLOCK_IDSTR = 'ram';

/** The handler "provider" the summary names for the RAM. */
export const RAM_PROVIDER = '@savevm/ram';

/** What the summary says about the RAM. */
export interface RamStateReport extends DeviceStateReport {
  /** Its size, bytes. */
  readonly size: number;
  /** Who migrates it. */
  readonly provider: string;
}

/** What runs with the RAM on one side. */
export interface VmRamOptions {
  /** A guest dirties the RAM while the VM runs (a running source). */
  readonly guest: boolean;
  /** The digest is taken whenever the VM stops, for the state check (the source). */
  readonly digestOnStop: boolean;
}

/** The guest RAM of one side, registered with its session. */
export class VmRam {
  /** The block list `@savevm/ram` migrates. */
  readonly ram: GuestRam;
  /** The one block, `ram`. */
  readonly block: RamBlock;
  /** The `ram` section's entry. */
  readonly entry: SaveStateEntry;
  /** Whether the kernel took the huge-page advice for the block's memory. */
  readonly hugePages: boolean;
  private readonly guest: RamGuest;
  private readonly thread = new DigestThread();
  private readonly handlers: Disposable[] = [];
  private stoppedDigest: Promise<string> | undefined;
  private readonly dmaWriters: (() => number)[] = [];

  /**
   * Allocates and fills the RAM and registers it with `session`.
   * @param spec the `--memory` option
   * @param session the VM's session (the `ram` section is registered after its devices)
   * @param options what runs with it
   */
  constructor(
    readonly spec: MemorySpec,
    private readonly session: MigrationSession,
    options: VmRamOptions,
  ) {
    // As a VMM (and QEMU) allocates guest RAM: shared with the digest thread, 2 MiB aligned,
    // advised for huge pages (64 MiB filled in 320 ms in 4 KiB pages, 50 ms in huge pages).
    const memory = allocateHugePageMemory(spec.size);
    fillSeeded(memory.bytes, spec.seed);
    this.hugePages = memory.hugePages;
    this.ram = new GuestRam();
    // At guest physical address 0 (QEMU's -M none): where devices' DMA reaches it.
    this.block = this.ram.addBlock(RAM_BLOCK_IDSTR, memory.bytes, { guestAddress: 0 });
    this.entry = registerRam(session.registry, this.ram);
    this.guest = new RamGuest(this.ram, this.block, spec.seed, spec.dirtyRate);
    if (options.guest) this.handlers.push(session.runState.addChangeHandler(this.guest, { name: 'guest', priority: RAM_GUEST_PRIORITY }));
    // Both sides hash the RAM with the VM stopped: have the thread ready before that.
    this.thread.warmUp();
    if (options.digestOnStop) {
      // Right after the guest stopped (handlers stop in descending priority): from here to
      // the next start the RAM holds still, so the digest is its final one.
      const change = (running: boolean): void => {
        this.stoppedDigest = running ? undefined : this.digestInBackground();
        this.stoppedDigest?.catch(() => undefined); // awaited later, or dropped if the VM runs again
      };
      this.handlers.push(session.runState.addChangeHandler({ change }, { name: 'ram digest', priority: RAM_GUEST_PRIORITY - 1 }));
    }
  }

  /** Counts pages a device writes into this RAM by DMA (the seed and the guest no longer say what the bytes are). */
  addDmaWriter(pagesWritten: () => number): void {
    this.dmaWriters.push(pagesWritten);
    this.writtenByDma = true;
  }

  /**
   * Whether devices write this RAM by DMA (both sides know it from their `--device`s): the
   * bytes are then checked against the source's digest only, not against seed + writes.
   */
  writtenByDma = false;

  /** Pages devices wrote by DMA. */
  get dmaPagesWritten(): number {
    return this.dmaWriters.reduce((n, pages) => n + pages(), 0);
  }

  /** Writes the guest made, one page dirtied each. */
  get pagesDirtied(): number {
    return this.guest.pagesDirtied;
  }

  /** SHA-256 of the RAM's bytes now, hex. */
  digest(): string {
    return sha256Hex(this.block.bytes);
  }

  /** SHA-256 of the RAM's bytes now, hex, computed on the digest thread. */
  digestInBackground(): Promise<string> {
    return this.thread.digest(this.block.bytes);
  }

  /**
   * The digest for the state check, with the VM stopped: the one taken when it stopped (the
   * RAM has not changed since), else one taken now.
   */
  finalDigest(): Promise<string> {
    return this.stoppedDigest ?? this.digestInBackground();
  }

  /** Whether the bytes are exactly what the seed and the guest's writes give. */
  isIntact(): boolean {
    return firstSeededDifference(this.block.bytes, this.spec.seed, this.guest.pagesDirtied) === undefined;
  }

  /** Stops the guest for good (the VM may go on running), so the RAM holds still for the report. */
  stopGuest(): void {
    for (const handler of this.handlers.splice(0)) handler.dispose();
    this.guest.stop();
  }

  /**
   * The RAM for the summary, like a device: its state is the VM's run state.
   * @param withDirtying include the guest's count and the intact check (the source)
   */
  report(withDirtying: boolean): RamStateReport {
    const base = {
      device: RAM_BLOCK_IDSTR,
      idstr: this.entry.idstr,
      deviceState: this.session.runState.state.toUpperCase(),
      sha256: this.digest(),
      size: this.spec.size,
      provider: RAM_PROVIDER,
    };
    if (!withDirtying) return base;
    const dma = this.dmaPagesWritten;
    // Bytes a device wrote by DMA are not in the seed: only the destination's check says whether they arrived.
    if (this.dmaWriters.length > 0) return { ...base, pagesDirtied: this.guest.pagesDirtied, dmaPagesWritten: dma, ...(dma === 0 && { intact: this.isIntact() }) };
    return { ...base, pagesDirtied: this.guest.pagesDirtied, intact: this.isIntact() };
  }

  /** Stops the guest and the digest thread. */
  async close(): Promise<void> {
    this.stopGuest();
    await this.thread.close();
  }
}
