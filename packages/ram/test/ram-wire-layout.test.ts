/**
 * The `ram` section's bytes against hand-written ones taken from QEMU's captures
 * (docs/design/ram-section.md §2–§4): the START record of `-M none -m 64M` byte for byte,
 * the page records with and without the block name, EOS, and the record counts of a paused
 * 64 MiB VM with 64 KiB of data at 0x10000.
 */
import {
  MigrationBlockers,
  MigrationNotifiers,
  MigrationSource,
  RunState,
  RunStateController,
  SaveStateRegistry,
  createQemuTimerState,
  qemuTimerVmState,
  registerVmState,
} from '@savevm/core';
import { inspectStream } from '@savevm/inspect';
import { MemoryWriteChannel, QemuFileWriter } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { GuestRam, RamMigration, registerRam } from '../src/index.js';
import { hex, memoryWriter, seededBytes } from './helpers/bytes.js';

const MiB = 1 << 20;

/** Migrates a paused VM laid out like QEMU 7.2's `-M none`: timer (0), an inactive block (1), ram (2). */
async function pausedNoneMachine(ram: GuestRam): Promise<Buffer> {
  const registry = new SaveStateRegistry();
  registerVmState(registry, qemuTimerVmState, createQemuTimerState(0n, 0n));
  registry.register('block', 0, 1, { isActive: () => false, saveSetup: () => undefined });
  const entry = registerRam(registry, ram);
  expect(entry.sectionId).toBe(2);
  const source = new MigrationSource({
    registry,
    runState: new RunStateController(RunState.PAUSED),
    blockers: new MigrationBlockers(),
    notifiers: new MigrationNotifiers(),
  });
  const channel = new MemoryWriteChannel();
  const info = await source.migrate(new QemuFileWriter(channel), { machine: 'none', maxBandwidth: 0 });
  expect(info.status).toBe('completed');
  return channel.bytes();
}

describe('the ram section on the wire', () => {
  it('reproduces the captured START record of QEMU 7.2 `-M none -m 64M` byte for byte, at 0x11', async () => {
    const ram = new GuestRam();
    ram.addBlock('ram', Buffer.alloc(64 * MiB));
    const stream = await pausedNoneMachine(ram);
    const start = hex(`
      01 00000002 03 "ram" 00000000 00000004   # START, section 2, idstr ram, instance 0, version 4
      0000000004000004                         # MEM_SIZE, total 0x4000000
      03 "ram" 0000000004000000                # block "ram", used length 64 MiB
      0000000000000010 7e 00000002             # EOS, footer
    `);
    expect(stream.subarray(0x11, 0x11 + start.length).toString('hex')).toBe(start.toString('hex'));
  });

  it('writes a block list of several blocks: total, then name and length of each, in order', async () => {
    const ram = new GuestRam();
    ram.addBlock('pc.ram', Buffer.alloc(3 * 4096));
    ram.addBlock('0000:00:02.0/vga.vram', Buffer.alloc(4096));
    const { f, bytes } = memoryWriter();
    const m = new RamMigration(ram);
    await m.saveSetup(f);
    await m.saveCleanup();
    expect((await bytes()).toString('hex')).toBe(
      hex(`
        0000000000004004                        # MEM_SIZE, total 0x4000
        06 "pc.ram" 0000000000003000
        15 "0000:00:02.0/vga.vram" 0000000000001000
        0000000000000010                        # EOS
      `).toString('hex'),
    );
  });

  it('writes PAGE and ZERO records: the block name on the first, CONTINUE after, across sections too', async () => {
    const ram = new GuestRam();
    const a = ram.addBlock('a', Buffer.alloc(2 * 4096));
    const b = ram.addBlock('bb', Buffer.alloc(2 * 4096));
    a.bytes.fill(0x11, 4096, 8192); // a: page 0 zero, page 1 of 0x11
    b.bytes.fill(0x22, 0, 4096); // b: page 0 of 0x22, page 1 zero
    const m = new RamMigration(ram);
    const { f, bytes } = memoryWriter();
    await m.saveSetup(f);
    const setupBytes = (await bytes()).length;
    const rounds: boolean[] = [];
    // The first round sends all 4 pages; the second (after a guest write) starts with CONTINUE.
    rounds.push(await m.saveLiveIterate(f));
    b.bytes[4096 + 5] = 0x33;
    ram.markDirty('bb', 4096 + 5, 1);
    rounds.push(await m.saveLiveIterate(f));
    await m.saveLiveCompletePrecopy(f);
    await m.saveCleanup();
    expect(rounds).toEqual([true, true]);
    const page = (fill: number): string => Buffer.alloc(4096, fill).toString('hex');
    const page1 = Buffer.alloc(4096);
    page1[5] = 0x33;
    expect((await bytes()).subarray(setupBytes).toString('hex')).toBe(
      [
        // round 1 (a PART body)
        hex('0000000000000002 01 "a" 00').toString('hex'), // ZERO a+0, name, fill 0
        hex('0000000000001028').toString('hex') + page(0x11), // PAGE|CONTINUE a+0x1000
        hex('0000000000000008 02 "bb"').toString('hex') + page(0x22), // PAGE bb+0, name
        hex('0000000000001022 00').toString('hex'), // ZERO|CONTINUE bb+0x1000
        hex('0000000000000010').toString('hex'), // EOS
        // round 2: the last block named is still bb
        hex('0000000000001028').toString('hex') + page1.toString('hex'), // PAGE|CONTINUE bb+0x1000
        hex('0000000000000010').toString('hex'),
        // END: nothing dirty
        hex('0000000000000010').toString('hex'),
      ].join(''),
    );
  });

  it('a paused 64 MiB VM with 64 KiB of data at 0x10000 (one page of it zero) sends the records QEMU sends', async () => {
    const ram = new GuestRam();
    const block = ram.addBlock('ram', Buffer.alloc(64 * MiB));
    const pattern = seededBytes(7, 64 * 1024);
    pattern.fill(0, 5 * 4096, 6 * 4096);
    block.bytes.set(pattern, 0x10000);
    const stream = await pausedNoneMachine(ram);
    const { records } = await inspectStream(stream);
    const ramSections = records.filter((r) => r.decoding === 'ram');
    expect(ramSections.map((r) => r.record.type)).toEqual(['start', 'end']);
    const flagCounts = new Map<number, number>();
    for (const s of ramSections) for (const [flag, n] of s.ram?.flagCounts ?? []) flagCounts.set(flag, (flagCounts.get(flag) ?? 0) + n);
    expect(Object.fromEntries([...flagCounts].map(([k, v]) => [`0x${k.toString(16)}`, v]))).toEqual({
      '0x4': 1, // MEM_SIZE
      '0x10': 2, // EOS of START and END (a paused VM switches over at once)
      '0x2': 1, // ZERO with the name, offset 0
      '0x22': 16368,
      '0x28': 15,
    });
  });
});
