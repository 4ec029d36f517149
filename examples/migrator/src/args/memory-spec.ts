/**
 * `--memory SIZE[,dirty-rate=RATE][,seed=N]`: the VM's guest RAM, one block named `ram`
 * (QEMU's idstr for `-M none`), filled from the seed, dirtied at RATE bytes per second
 * while the VM runs.
 */
import { parseBytes, parseBytesPerSecond, parseCount } from './units.js';
import { UsageError } from './usage-error.js';

/** A parsed `--memory`. */
export interface MemorySpec {
  /** The block's size, bytes: whole 4 KiB pages. */
  readonly size: number;
  /** Bytes the guest dirties per second while the VM runs, one 4 KiB page per 4096 bytes (0: none). */
  readonly dirtyRate: number;
  /** The seed the RAM is filled from and the guest's writes are drawn from. */
  readonly seed: number;
  /** The spec as written. */
  readonly text: string;
}

/** Defaults of `--memory`: no dirtying, seed 1 (as an emulated device). */
export const MEMORY_DEFAULTS = { dirtyRate: 0, seed: 1 } as const;

/** The RAM's page: sizes are whole pages of it. */
export const MEMORY_PAGE_SIZE = 4096;

/** The largest `--memory`: 2 GiB (one Node.js buffer holds it with room to align it). */
export const MAX_MEMORY_SIZE = 2 * 1024 ** 3;

/**
 * Parses one `--memory` value.
 * @throws UsageError with the spec and what is wrong
 */
export function parseMemorySpec(text: string): MemorySpec {
  const [sizeText = '', ...pairs] = text.split(',');
  const what = `--memory ${text}`;
  if (sizeText.trim() === '') throw new UsageError(`${what}: the size comes first (e.g. 64M, 1G)`);
  const size = parseBytes(sizeText, `${what}: size`);
  if (size < MEMORY_PAGE_SIZE || size > MAX_MEMORY_SIZE || size % MEMORY_PAGE_SIZE !== 0) {
    throw new UsageError(`${what}: size must be whole 4 KiB pages, from 4K to 2G`);
  }
  let dirtyRate: number = MEMORY_DEFAULTS.dirtyRate;
  let seed: number = MEMORY_DEFAULTS.seed;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    switch (key) {
      case 'dirty-rate':
        dirtyRate = parseBytesPerSecond(value, `${what}: dirty-rate`);
        break;
      case 'seed':
        seed = parseCount(value, `${what}: seed`);
        if (seed > 0xffffffff) throw new UsageError(`${what}: seed must fit in 32 bits`);
        break;
      default:
        throw new UsageError(`${what}: unknown option "${key}" (dirty-rate, seed)`);
    }
  }
  return { size, dirtyRate, seed, text };
}
