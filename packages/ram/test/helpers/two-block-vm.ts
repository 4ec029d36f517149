/** A VM with two RAM blocks for the whole-migration tests: `pc.ram` (8 MiB) and a 256 KiB VGA RAM. */
import { createMigrationSession, type MigrationSession } from '@savevm/session';
import { expect } from 'vitest';
import { GuestRam, type RamMigration, registerRam } from '../../src/index.js';
import { seededBytes } from './bytes.js';

const MiB = 1 << 20;

/** One side's session, its RAM and the RAM's handlers. */
export interface TwoBlockVm {
  readonly session: MigrationSession;
  readonly ram: GuestRam;
  readonly handlers: RamMigration;
}

/** How a source's blocks are filled. */
export interface SourceFill {
  /** Seed of `pc.ram`; the VGA RAM takes the next one. */
  readonly seed: number;
  /** Every this many pages of `pc.ram` is zero. */
  readonly zeroEvery: number;
}

/**
 * A source (`fill` given: seeded, some pages zero) or a destination (garbage: 0x5a and 0xa5,
 * so a page that did not arrive shows).
 */
export async function twoBlockVm(fill: SourceFill | 'garbage'): Promise<TwoBlockVm> {
  const session = await createMigrationSession();
  const ram = new GuestRam();
  const main = ram.addBlock('pc.ram', Buffer.alloc(8 * MiB));
  const vram = ram.addBlock('0000:00:02.0/vga.vram', Buffer.alloc(256 * 1024));
  if (fill === 'garbage') {
    main.bytes.fill(0x5a);
    vram.bytes.fill(0xa5);
  } else {
    main.bytes.set(seededBytes(fill.seed, main.usedLength));
    vram.bytes.set(seededBytes(fill.seed + 1, vram.usedLength));
    for (let p = 0; p < main.pageCount; p += fill.zeroEvery) main.bytes.fill(0, p * 4096, p * 4096 + 4096);
  }
  const entry = registerRam(session.registry, ram);
  return { session, ram, handlers: entry.handlers as RamMigration };
}

/** Every block of `src` equals its namesake in `dst`. */
export function expectSameRam(src: GuestRam, dst: GuestRam): void {
  for (const b of src.blocks) expect(dst.block(b.idstr)?.bytes.equals(b.bytes), b.idstr).toBe(true);
}
