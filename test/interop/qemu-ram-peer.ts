/**
 * QEMU as a peer for guest RAM, with or without multifd (docs/design/ram-section.md,
 * docs/design/multifd.md): switching multifd on through QMP (before `migrate-incoming` /
 * `migrate`, as QEMU requires), the savevm side of
 * a `-M none -m 64M` VM (timer, ram, globalstate), a pattern of random and zero pages, and
 * reading QEMU's guest RAM back with `pmemsave`.
 */
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  RunState,
  createQemuGlobalState,
  createQemuTimerState,
  qemuTimerVmState,
  registerQemuGlobalState,
  registerVmState,
  type SaveStateRegistry,
} from '@savevm/core';
import { GuestRam, registerRam, type RamMigration } from '@savevm/ram';
import { type QemuProcess, QmpClosedError, queryStatus } from './qemu-harness.js';
import { withTimeout, type QmpValue } from './qmp-client.js';

/** Bytes in a MiB. */
export const MiB = 1 << 20;

/** Guest RAM of QEMU's `-M none -m 64M` (one block, `ram`). */
export const RAM_SIZE_64M = 64 * MiB;

/** The uuid both ends announce when a test gives one (QEMU `-uuid`, savevm `uuid`). */
export const TEST_UUID = '11223344-5566-7788-99aa-bbccddeeff00';

/** A member of a QMP object, or undefined. */
export function qmpField(v: QmpValue | undefined, key: string): QmpValue | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v[key] : undefined;
}

/** `length` bytes: random pages, every fourth page zero. */
export function patternBytes(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  randomFillSync(bytes);
  for (let at = 0; at < length; at += 4 * 4096) bytes.fill(0, at, at + 4096);
  return bytes;
}

/** A savevm VM with what QEMU's `-M none -m 64M` migrates. */
export interface NoneMachine64 {
  /** The guest RAM (block `ram`, 64 MiB). */
  readonly ram: GuestRam;
  /** The ram entry's handlers (saver and loader statistics). */
  readonly handlers: RamMigration;
}

/**
 * Registers what QEMU's `-M none -m 64M` migrates, in its order: timer, ram (64 MiB block
 * `ram`), globalstate (its layout follows the stream's compat).
 */
export function registerNoneMachine64(registry: SaveStateRegistry, runState: RunState): NoneMachine64 {
  registerVmState(registry, qemuTimerVmState, createQemuTimerState(123_456_789n, -42n), { instanceId: 0 });
  const ram = new GuestRam();
  ram.addBlock('ram', Buffer.alloc(RAM_SIZE_64M));
  const entry = registerRam(registry, ram);
  registerQemuGlobalState(registry, createQemuGlobalState(runState), { instanceId: 0 });
  return { ram, handlers: entry.handlers as RamMigration };
}

/**
 * Switches QEMU's `multifd` capability on with `channels` channels (QMP
 * `migrate-set-capabilities`, `migrate-set-parameters`). QEMU wants it before
 * `migrate-incoming` on a destination.
 */
export async function setMultifd(q: QemuProcess, channels: number, timeoutMs = 15_000): Promise<void> {
  const qmp = await q.qmp(timeoutMs);
  await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'multifd', state: true }] }, timeoutMs);
  await qmp.execute('migrate-set-parameters', { 'multifd-channels': channels }, timeoutMs);
}

/** Polls until an incoming QEMU leaves `inmigrate`; returns its status, or undefined when it exited. */
export async function awaitIncoming(q: QemuProcess, timeoutMs = 20_000): Promise<string | undefined> {
  const poll = async (): Promise<string | undefined> => {
    try {
      for (;;) {
        if (q.exited) return undefined;
        const status = await queryStatus(q);
        if (status !== 'inmigrate') return status;
        await sleep(10);
      }
    } catch (err) {
      if (err instanceof QmpClosedError || q.exited) return undefined;
      throw err;
    }
  };
  return withTimeout(poll(), timeoutMs, () => `QEMU's incoming migration (stderr: ${q.stderr})`);
}

/** QMP `pmemsave` of guest physical [0, size) into a file, read back. */
export async function pmemsave(q: QemuProcess, size: number): Promise<Buffer> {
  const file = join(q.dir, 'pmem.bin');
  await (await q.qmp()).execute('pmemsave', { val: 0, size, filename: file }, 20_000);
  return readFileSync(file);
}
