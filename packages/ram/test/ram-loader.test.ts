/**
 * The loader against hand-written section bodies (docs/design/ram-section.md §5): what it
 * writes into the blocks, and every refusal with QEMU's words, the block and the offset.
 */
import {
  MigrationBlockers,
  MigrationDestination,
  MigrationError,
  MigrationNotifiers,
  MigrationSource,
  RunState,
  RunStateController,
  SaveStateRegistry,
} from '@savevm/core';
import { MemoryWriteChannel, QemuFileWriter, StreamTruncatedError } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { GuestRam, RamLoadError, RamLoader, registerRam, type RamLoadErrorCode, type RamLoaderOptions } from '../src/index.js';
import { hex, readerOf } from './helpers/bytes.js';

const MiB = 1 << 20;
/** MEM_SIZE announcing one block "ram" of 64 MiB. */
const LIST_64M = '0000000004000004 03 "ram" 0000000004000000';
const EOS = '0000000000000010';

function ram64(): GuestRam {
  const ram = new GuestRam();
  ram.addBlock('ram', Buffer.alloc(64 * MiB));
  return ram;
}

/** Loads the given section bodies (each up to its EOS) in order. */
async function load(ram: GuestRam, bodies: string[], options: RamLoaderOptions = {}): Promise<RamLoader> {
  const loader = new RamLoader(ram, options);
  loader.setup();
  const f = readerOf(hex(bodies.join('\n')));
  try {
    for (let i = 0; i < bodies.length; i++) await loader.loadSection(f);
  } finally {
    loader.cleanup();
  }
  return loader;
}

async function refusal(ram: GuestRam, bodies: string[], options: RamLoaderOptions = {}): Promise<RamLoadError> {
  const err = await load(ram, bodies, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RamLoadError);
  return err as RamLoadError;
}

describe('the ram loader', () => {
  it('writes PAGE records into the block and zero-fills ZERO records, only where the page is not zero already', async () => {
    const ram = new GuestRam();
    const block = ram.addBlock('ram', Buffer.alloc(4 * 4096, 0x77));
    const page = Buffer.alloc(4096, 0xab).toString('hex');
    const loader = await load(ram, [
      `0000000000004004 03 "ram" 0000000000004000 ${EOS}`,
      `0000000000001008 03 "ram" ${page}   # PAGE ram+0x1000
       0000000000003022 00                   # ZERO|CONTINUE ram+0x3000
       0000000000000030                      # EOS|CONTINUE is EOS`,
    ]);
    expect(block.bytes.subarray(0, 4096).every((b) => b === 0x77)).toBe(true);
    expect(block.bytes.subarray(4096, 8192).every((b) => b === 0xab)).toBe(true);
    expect(block.bytes.subarray(0x3000, 0x4000).every((b) => b === 0)).toBe(true);
    expect(loader.stats).toEqual({ pages: 1, zeroPages: 1, sections: 2, multifdPages: 0 });
  });

  it('keeps the last received block across sections: a PART may begin with CONTINUE', async () => {
    const ram = new GuestRam();
    const block = ram.addBlock('ram', Buffer.alloc(2 * 4096));
    await load(ram, [
      `0000000000002004 03 "ram" 0000000000002000 ${EOS}`,
      `0000000000000008 03 "ram" ${Buffer.alloc(4096, 1).toString('hex')} ${EOS}`,
      `0000000000001028 ${Buffer.alloc(4096, 2).toString('hex')} ${EOS}`,
    ]);
    expect(block.bytes[0]).toBe(1);
    expect(block.bytes[4096]).toBe(2);
  });

  it('accepts MULTIFD_FLUSH (0x200) and HOOK (0x80) as no-ops, as QEMU 10.0', async () => {
    const ram = ram64();
    await load(ram, [`${LIST_64M} 0000000000000200 0000000000000080 ${EOS}`]);
  });

  it('accepts a stream length that rounds up to the local one, as QEMU does (its resize check aligns first)', async () => {
    const ram = new GuestRam();
    ram.addBlock('a', Buffer.alloc(0x2000));
    ram.addBlock('b', Buffer.alloc(0x1000));
    // 0x1001 rounds up to 0x2000 and 0xfff to 0x1000; the total counts the raw lengths.
    await load(ram, [`0000000000002004 01 "a" 0000000000001001 01 "b" 0000000000000fff ${EOS}`]);
  });

  const cases: [string, string[], RamLoadErrorCode, string[], string | undefined, bigint | undefined][] = [
    ['MEM_SIZE lists an unknown block', [`0000000004000004 05 "extra" 0000000004000000 ${EOS}`], 'UNKNOWN_BLOCK', ['Unknown ramblock "extra", cannot accept migration'], 'extra', undefined],
    ['a block length differs', [`0000000002000004 03 "ram" 0000000002000000 ${EOS}`], 'LENGTH_MISMATCH', ['Size mismatch: ram: 0x2000000 != 0x4000000: Invalid argument'], 'ram', undefined],
    ['a page names an unknown block', [`${LIST_64M} ${EOS}`, '0000000000020008 06 "nosuch"'], 'UNKNOWN_BLOCK', ["Can't find block nosuch", 'Illegal RAM offset 20000'], 'nosuch', 0x20000n],
    ['CONTINUE on the first page', [`${LIST_64M} ${EOS}`, '0000000000020028'], 'CONTINUE_WITHOUT_BLOCK', ['Ack, bad migration stream!', 'Illegal RAM offset 20000'], undefined, 0x20000n],
    ['a page past the end of the block', [`${LIST_64M} ${EOS}`, '0000000004000008 03 "ram"'], 'OFFSET_OUT_OF_RANGE', ['Illegal RAM offset 4000000'], 'ram', 0x4000000n],
    ['a page offset above 2^53', [`${LIST_64M} ${EOS}`, 'ffffffff00000002 03 "ram"'], 'OFFSET_OUT_OF_RANGE', ['Illegal RAM offset ffffffff00000000'], 'ram', 0xffffffff00000000n],
    ['ZERO with fill 0x55 (QEMU 10.0; 7.2 fills the page)', [`${LIST_64M} ${EOS}`, '0000000000020002 03 "ram" 55'], 'NONZERO_FILL', ['Found a zero page with value 85'], 'ram', 0x20000n],
    ['COMPRESS_PAGE 0x100', [`${LIST_64M} ${EOS}`, '0000000000020100'], 'UNKNOWN_FLAGS', ['Unknown combination of migration flags: 0x100'], undefined, 0x20000n],
    ['FULL 0x1', [`${LIST_64M} ${EOS}`, '0000000000000001'], 'UNKNOWN_FLAGS', ['Unknown combination of migration flags: 0x1'], undefined, 0n],
    ['an unknown bit with PAGE (0x408), after the block is read', [`${LIST_64M} ${EOS}`, '0000000000020408 03 "ram"'], 'UNKNOWN_FLAGS', ['Unknown combination of migration flags: 0x408'], 'ram', 0x20000n],
    ['ZERO|PAGE at once, after the block is read', [`${LIST_64M} ${EOS}`, '000000000002000a 03 "ram"'], 'UNKNOWN_FLAGS', ['Unknown combination of migration flags: 0xa'], 'ram', 0x20000n],
    ['ZERO|PAGE|CONTINUE first: the missing block is found first', [`${LIST_64M} ${EOS}`, '000000000002002a'], 'CONTINUE_WITHOUT_BLOCK', ['Ack, bad migration stream!', 'Illegal RAM offset 20000'], undefined, 0x20000n],
    ['XBZRLE', [`${LIST_64M} ${EOS}`, '0000000000020040 03 "ram" 01 0000'], 'UNSUPPORTED_RECORD', ['XBZRLE pages are not supported (flags 0x40)'], 'ram', 0x20000n],
  ];

  it.each(cases)('refuses: %s', async (_what, bodies, code, messages, block, ramOffset) => {
    const ram = ram64();
    const err = await refusal(ram, bodies);
    expect(err.code).toBe(code);
    expect(err.messages).toEqual(messages);
    expect(err.block).toBe(block);
    expect(err.ramOffset).toBe(ramOffset);
    expect(err.reason).toBe('BAD_STREAM');
    expect(err.phase).toBe('load-state');
    expect(err.detail).toBe(messages.join('; '));
  });

  it('names the stream offset of the refused record', async () => {
    const err = await refusal(ram64(), [`${LIST_64M} ${EOS}`, '0000000004000008 03 "ram"']);
    expect(err.offset).toBe(hex(`${LIST_64M} ${EOS}`).length);
  });

  it('reads a block name like QEMU (a C string): it ends at the first NUL', async () => {
    const ram = new GuestRam();
    const block = ram.addBlock('ram', Buffer.alloc(4096));
    await load(ram, [`0000000000001004 05 "ram" 00 78 0000000000001000 0000000000000008 04 "ram" 00 ${Buffer.alloc(4096, 9).toString('hex')} ${EOS}`]);
    expect(block.bytes[100]).toBe(9);
  });

  it('a truncated page is a StreamTruncatedError, not a refusal', async () => {
    const err = await load(ram64(), [`${LIST_64M} ${EOS}`, '0000000000000008 03 "ram" 0102']).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StreamTruncatedError);
  });

  describe('the strict block list (the default)', () => {
    it('refuses a local block the stream does not list', async () => {
      const ram = ram64();
      ram.addBlock('vga.vram', Buffer.alloc(4096));
      const err = await refusal(ram, [`${LIST_64M} ${EOS}`]);
      expect(err).toMatchObject({ code: 'MISSING_BLOCK', block: 'vga.vram' });
      expect(err.messages).toEqual(['RAM block "vga.vram" is not in the stream\'s block list']);
      await load(ram, [`${LIST_64M} ${EOS}`], { strictBlockList: false });
    });

    it('refuses a page before any block list, and a second list', async () => {
      expect((await refusal(ram64(), ['0000000000000002 03 "ram" 00'])).code).toBe('BAD_BLOCK_LIST');
      await load(ram64(), [`0000000000000002 03 "ram" 00 ${EOS}`], { strictBlockList: false });
      expect((await refusal(ram64(), [`${LIST_64M} ${LIST_64M} ${EOS}`])).code).toBe('BAD_BLOCK_LIST');
    });

    it('refuses lengths that overrun the announced total', async () => {
      const ram = new GuestRam();
      ram.addBlock('a', Buffer.alloc(8192));
      ram.addBlock('b', Buffer.alloc(8192));
      const err = await refusal(ram, [`0000000000003004 01 "a" 0000000000002000 01 "b" 0000000000002000 ${EOS}`]);
      expect(err).toMatchObject({ code: 'BAD_BLOCK_LIST', block: 'b' });
    });
  });

  it('through the destination driver: the refusal is a BAD_STREAM MigrationError of entry "ram" whose cause is the RamLoadError', async () => {
    // A source whose RAM has a block the destination lacks.
    const srcRam = new GuestRam();
    srcRam.addBlock('ram', Buffer.alloc(8192));
    srcRam.addBlock('extra', Buffer.alloc(4096));
    const registry = new SaveStateRegistry();
    registerRam(registry, srcRam);
    const source = new MigrationSource({ registry, runState: new RunStateController(RunState.PAUSED), blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
    const channel = new MemoryWriteChannel();
    await source.migrate(new QemuFileWriter(channel), { machine: 'none' });
    const dstRam = new GuestRam();
    dstRam.addBlock('ram', Buffer.alloc(8192));
    const dstRegistry = new SaveStateRegistry();
    registerRam(dstRegistry, dstRam);
    const destination = new MigrationDestination({ registry: dstRegistry, runState: new RunStateController(RunState.INMIGRATE) });
    const err = await destination.load(readerOf(channel.bytes())).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toMatchObject({ reason: 'BAD_STREAM', phase: 'load-state', entry: { idstr: 'ram', instanceId: 0 }, hook: 'loadState' });
    expect((err as MigrationError).detail).toBe('Unknown ramblock "extra", cannot accept migration');
    expect((err as MigrationError).cause).toBeInstanceOf(RamLoadError);
    expect(dstRam.migrating).toBe(false);
  });

  it('through the destination driver: a ram section of version 3 is refused before the loader runs', async () => {
    const registry = new SaveStateRegistry();
    registerRam(registry, ram64());
    const bytes = hex(`
      5145564d 00000003                          # magic, version 3
      01 00000000 03 "ram" 00000000 00000003     # START ram version 3
      ${LIST_64M} ${EOS} 7e 00000000
      1f
    `);
    const destination = new MigrationDestination({ registry, runState: new RunStateController(RunState.INMIGRATE) });
    const err = await destination.load(readerOf(bytes), { requireConfiguration: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ reason: 'BAD_STREAM' });
  });
});
