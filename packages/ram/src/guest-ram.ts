/**
 * The guest memory of one VM as savevm migrates it: an ordered list of RAM blocks and the
 * dirty sources that say which of their pages changed.
 */
import type { DirtySource } from './dirty-source.js';
import { RamBlock, type RamBlockOptions } from './ram-block.js';
import { RamBlockError } from './ram-errors.js';
import { SoftwareDirtySource } from './software-dirty-source.js';

/**
 * A VM's RAM blocks, in the order the block list sends them, plus its dirty sources: the
 * built-in {@link SoftwareDirtySource} behind {@link markDirty}, and any added with
 * {@link addDirtySource} (a VFIO DMA tracker). Both sides of a migration must add the same
 * blocks (idstr and used length).
 *
 * @example
 * ```ts
 * const ram = new GuestRam();
 * const memory = ram.addBlock('ram', Buffer.alloc(64 << 20)).bytes;
 * memory.write('hello', 0x1000);      // a guest write …
 * ram.markDirty('ram', 0x1000, 5);    // … then tell the dirty log
 * registerRam(session.registry, ram);
 * ```
 */
export class GuestRam {
  /** The source for the VMM's own writes ({@link markDirty} feeds it). */
  readonly software = new SoftwareDirtySource();
  private readonly list: RamBlock[] = [];
  private readonly byIdstr = new Map<string, RamBlock>();
  private readonly sources: DirtySource[] = [this.software];
  private migrations = 0;

  /**
   * Adds a block at the end of the list.
   * @param idstr its name on the wire (≤ 255 bytes; unique)
   * @param memory the guest memory (kept, not copied); its whole length is the used length unless `options.usedLength` says less
   * @throws RamBlockError for a bad or duplicate idstr, a length that is not whole pages, or while a migration runs
   */
  addBlock(idstr: string, memory: Uint8Array, options: RamBlockOptions = {}): RamBlock {
    this.checkIdle(idstr, 'cannot be added while a migration runs');
    if (this.byIdstr.has(idstr)) throw new RamBlockError(idstr, 'a block with this idstr is already registered');
    const block = new RamBlock(idstr, memory, options);
    this.list.push(block);
    this.byIdstr.set(idstr, block);
    return block;
  }

  /**
   * Removes a block.
   * @returns whether it was there
   * @throws RamBlockError while a migration runs
   */
  removeBlock(idstr: string): boolean {
    this.checkIdle(idstr, 'cannot be removed while a migration runs');
    const block = this.byIdstr.get(idstr);
    if (block === undefined) return false;
    this.byIdstr.delete(idstr);
    this.list.splice(this.list.indexOf(block), 1);
    return true;
  }

  /** The blocks, in list order. */
  get blocks(): readonly RamBlock[] {
    return this.list;
  }

  /** The block named `idstr`, if any. */
  block(idstr: string): RamBlock | undefined {
    return this.byIdstr.get(idstr);
  }

  /** The sum of the blocks' used lengths (MEM_SIZE's total). */
  get totalBytes(): number {
    let total = 0;
    for (const b of this.list) total += b.usedLength;
    return total;
  }

  /**
   * Tells the dirty log that `length` bytes at `offset` of a block were written. Call it
   * after the write; outside a migration it only checks its arguments.
   * @throws RamBlockError for an unknown block or a range outside it
   */
  markDirty(block: string | RamBlock, offset: number, length: number): void {
    this.software.markDirty(this.resolve(block), offset, length);
  }

  /**
   * Adds a dirty source (e.g. a VFIO device's DMA tracking); it is started, synced and
   * stopped with the others from the next migration on.
   * @throws RamBlockError while a migration runs
   */
  addDirtySource(source: DirtySource): void {
    this.checkIdle(undefined, `dirty source "${source.name}" cannot be added while a migration runs`);
    if (!this.sources.includes(source)) this.sources.push(source);
  }

  /**
   * Removes a dirty source added with {@link addDirtySource}.
   * @returns whether it was there
   * @throws RamBlockError while a migration runs
   */
  removeDirtySource(source: DirtySource): boolean {
    this.checkIdle(undefined, `dirty source "${source.name}" cannot be removed while a migration runs`);
    const i = this.sources.indexOf(source);
    if (i <= 0) return false;
    this.sources.splice(i, 1);
    return true;
  }

  /** The dirty sources, the software one first. */
  get dirtySources(): readonly DirtySource[] {
    return this.sources;
  }

  /** Whether a migration (either direction) uses these blocks now. */
  get migrating(): boolean {
    return this.migrations > 0;
  }

  /** Marks the block list as in use by a migration (the RAM handlers call it at setup). */
  beginMigration(): void {
    this.migrations++;
  }

  /** Ends what {@link beginMigration} began (the RAM handlers call it at cleanup). */
  endMigration(): void {
    if (this.migrations > 0) this.migrations--;
  }

  private resolve(block: string | RamBlock): RamBlock {
    if (typeof block !== 'string') return block;
    const found = this.byIdstr.get(block);
    if (found === undefined) throw new RamBlockError(block, 'no such block');
    return found;
  }

  private checkIdle(block: string | undefined, what: string): void {
    if (this.migrations > 0) throw new RamBlockError(block, what);
  }
}
