/**
 * Guest RAM over multifd channels against QEMU 7.2 and 10.0 `-M none -m 64M`
 * (docs/design/multifd.md, docs/design/qemu-versions.md §1), capability `multifd` on both
 * sides, 2 and 4 channels:
 * (a) a QEMU source (RAM filled by `-device loader`) to a savevm destination, which takes
 *     7.2's barriers (a SYNC per channel before every RAM EOS, zero pages on the main stream)
 *     and 10.0's (a SYNC per channel for every MULTIFD_FLUSH, zero pages in the packets)
 *     from the stream itself, and 10.0 with `multifd-flush-after-each-section=on` (SYNCs at
 *     every EOS, zero pages in the packets): the bytes equal the file;
 * (b) a savevm source (under the `streamCompat` of that QEMU) to a QEMU destination, live
 *     while the savevm guest dirties pages: `pmemsave` reads back savevm's final bytes;
 * (c) refusals: a QEMU source with fewer channels than savevm expects fails savevm's accept
 *     naming the missing channels; a savevm source with fewer channels than QEMU expects is
 *     never loaded and fails at its verdict timeout; a savevm source whose uuid is not
 *     QEMU's `-uuid` is refused by QEMU. A failed source's VM runs on as it was.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MigrationError, MultifdChannelError, RunState, type RunStateController } from '@savevm/core';
import { createMigrationSession } from '@savevm/session';
import { afterAll, expect, it } from 'vitest';
import { describeEachQemu, queryStatus, withQemu, withTimeout, type QemuProcess } from './qemu-harness.js';
import { awaitMigrationEnd, listenForMigration, setReturnPath } from './qemu-live-migration.js';
import { MiB, RAM_SIZE_64M, TEST_UUID, awaitIncoming, patternBytes, pmemsave, registerNoneMachine64, setMultifd, type NoneMachine64 } from './qemu-ram-peer.js';

/** A guest writing 8 random words every millisecond while the VM runs (it stops when the VM does). */
function dirtyingGuest(vm: NoneMachine64, runState: RunStateController): { stop(): void; writes(): number } {
  const block = vm.ram.block('ram');
  if (block === undefined) throw new Error('no block');
  let writes = 0;
  let x = 12345;
  const timer = setInterval(() => {
    if (!runState.isRunning) return;
    for (let i = 0; i < 8; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const offset = (x % (RAM_SIZE_64M / 8)) * 8;
      block.bytes.writeUInt32LE(x, offset);
      block.bytes.writeUInt32LE(++writes, offset + 4);
      vm.ram.markDirty(block, offset, 8);
    }
  }, 1);
  return { stop: () => clearInterval(timer), writes: () => writes };
}

/** With 4 channels, the uuid both ends carry (savevm's option, QEMU's `-uuid`); none with fewer. */
function uuidFor(channels: number): { savevm: string; qemu: readonly string[] } | undefined {
  return channels === 4 ? { savevm: TEST_UUID, qemu: ['-uuid', TEST_UUID] } : undefined;
}

/** `err` and its causes, outermost first. */
function causes(err: unknown): Error[] {
  const chain: Error[] = [];
  for (let e = err; e instanceof Error && chain.length < 16; e = e.cause) chain.push(e);
  return chain;
}

/** Resolves once QEMU's stderr has `text` or it exited; gives up after `timeoutMs`. */
async function stderrContains(q: QemuProcess, text: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!q.stderr.includes(text) && q.exited === undefined && Date.now() < deadline) await sleep(10);
}

const dir = mkdtempSync(join(tmpdir(), 'savevm-qemu-multifd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeEachQemu((v) => `guest RAM over multifd channels against QEMU ${v} -M none -m 64M`, (qemu) => {
  const qemuOpt = { qemu: qemu.version };

  const sources: [number, string, readonly string[]][] = [
    [2, '', []],
    [4, ', both with -uuid', []],
    // 10.0 as machine types <= 8.0 have it: a SYNC per channel before every section's EOS and
    // no MULTIFD_FLUSH, but zero pages still in the packets (docs/design/multifd.md).
    ...(qemu.version === '10.0' ? [[2, ', multifd-flush-after-each-section=on', ['-global', 'migration.multifd-flush-after-each-section=on']] as [number, string, readonly string[]]] : []),
  ];
  it.each(sources)('(a) QEMU → savevm over tcp with %i channels%s: RAM filled by -device loader arrives byte for byte, pages on the channels', async (channels, _how, globals) => {
    const pattern = patternBytes(8 * MiB);
    const file = join(dir, `pattern-${qemu.version}-${channels}.bin`);
    writeFileSync(file, pattern);
    const session = await createMigrationSession();
    const vm = registerNoneMachine64(session.registry, RunState.PRELAUNCH);
    vm.ram.blocks[0]?.bytes.fill(0xee); // garbage, so zero pages must be written
    session.registry.register('switchover-probe', 0, 1, { switchoverStart: () => undefined });
    const uuid = uuidFor(channels);
    const incoming = session.incoming('tcp:127.0.0.1:0', { machine: 'none', multifdChannels: channels, multifdAcceptTimeoutMs: 15_000, uuid: uuid?.savevm });
    const { uri } = await incoming.listening;
    const end = await withQemu({ machine: 'none', memoryMiB: 64, paused: false, extraArgs: ['-device', `loader,file=${file},addr=0,force-raw=on`, ...globals, ...(uuid?.qemu ?? [])], ...qemuOpt }, async (q) => {
      await setReturnPath(q, true);
      await setMultifd(q, channels);
      await (await q.qmp()).execute('migrate', { uri });
      return awaitMigrationEnd(q, 30_000);
    });
    expect(end.status, end.errorDesc).toBe('completed');
    expect((await incoming).status).toBe('completed');
    const loaded = vm.ram.block('ram')?.bytes;
    expect(loaded?.subarray(0, pattern.length).equals(pattern)).toBe(true);
    expect(loaded?.subarray(pattern.length).every((b) => b === 0)).toBe(true);
    // Every page at least once (a running source may send one again in its last pass): 7.2
    // finds zero pages before multifd (ZERO records on the main stream), 10.0 puts them in the
    // packets' zero_pages offsets.
    const stats = vm.handlers.loader.stats;
    expect(stats.pages + stats.zeroPages).toBeGreaterThanOrEqual(RAM_SIZE_64M / 4096);
    expect(stats.pages).toBeGreaterThanOrEqual((pattern.length / 4096) * 0.75);
    expect(stats.multifdPages).toBe(qemu.version === '7.2' ? stats.pages : RAM_SIZE_64M / 4096);
  });

  it.each([
    [2, ''],
    [4, ', both with -uuid'],
  ])(`(b) savevm → QEMU over tcp with %i channels%s under streamCompat ${qemu.streamCompat}, live while the savevm guest dirties pages: QEMU completes and pmemsave reads back savevm's final bytes`, async (channels) => {
    const source = await createMigrationSession();
    const vm = registerNoneMachine64(source.registry, RunState.RUNNING);
    const block = vm.ram.block('ram');
    if (block === undefined) throw new Error('no block');
    block.bytes.set(patternBytes(RAM_SIZE_64M));
    await source.runState.start();
    const uuid = uuidFor(channels);
    const mem = await withQemu({ machine: 'none', memoryMiB: 64, paused: true, extraArgs: ['-incoming', 'defer', ...(uuid?.qemu ?? [])], ...qemuOpt }, async (q) => {
      await setMultifd(q, channels);
      const uri = await listenForMigration(q);
      const guest = dirtyingGuest(vm, source.runState);
      let info;
      try {
        // 64 MiB at 128 MiB/s: about half a second per pass, so several passes re-send pages
        // on other channels than before: only the barriers keep an older copy from landing last.
        info = await source.migrate(uri, { maxBandwidth: 128 * MiB, downtimeLimitMs: 100, streamCompat: qemu.streamCompat, multifdChannels: channels, uuid: uuid?.savevm });
      } finally {
        guest.stop();
      }
      expect(info.status).toBe('completed');
      expect(info.iterations).toBeGreaterThan(1);
      expect(guest.writes()).toBeGreaterThan(0);
      expect(await awaitIncoming(q), q.stderr).toBe('paused');
      return pmemsave(q, RAM_SIZE_64M);
    });
    const sent = vm.handlers.saver.stats;
    expect(sent.pages + sent.zeroPages).toBeGreaterThan(RAM_SIZE_64M / 4096);
    expect(sent.multifdPages).toBe(qemu.streamCompat === 'qemu-7.2' ? sent.pages : sent.pages + sent.zeroPages);
    expect(mem.equals(block.bytes)).toBe(true);
    expect(vm.ram.migrating).toBe(false);
  });

  it('(c) a QEMU source with 2 channels to a savevm destination expecting 4: savevm\'s accept fails within its timeout naming channels 2 and 3', async () => {
    const session = await createMigrationSession();
    const vm = registerNoneMachine64(session.registry, RunState.PRELAUNCH);
    session.registry.register('switchover-probe', 0, 1, { switchoverStart: () => undefined });
    const incoming = session.incoming('tcp:127.0.0.1:0', { machine: 'none', multifdChannels: 4, multifdAcceptTimeoutMs: 1500 });
    // With the return path QEMU waits for savevm's verdict (without it, it completes once its
    // stream is in the socket buffers).
    const { uri } = await incoming.listening;
    const started = Date.now();
    const [refusal, end] = await withQemu({ machine: 'none', memoryMiB: 64, paused: false, ...qemuOpt }, async (q) => {
      await setReturnPath(q, true);
      await setMultifd(q, 2);
      await (await q.qmp()).execute('migrate', { uri });
      const err: unknown = await incoming.then(() => undefined, (e: unknown) => e);
      return [err, await awaitMigrationEnd(q, 20_000)] as const;
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(refusal).toBeInstanceOf(MigrationError);
    const e = refusal as MigrationError;
    expect(e.reason).toBe('TIMEOUT');
    expect(e.detail).toContain('channel 2, 3 did not arrive within 1500 ms');
    expect(end.status).toBe('failed');
    expect(vm.ram.migrating).toBe(false);
  });

  it('(c) a savevm source whose uuid is not QEMU\'s -uuid: QEMU refuses the channels in its words, the source fails and its VM runs on unchanged', async () => {
    const source = await createMigrationSession();
    const vm = registerNoneMachine64(source.registry, RunState.RUNNING);
    const block = vm.ram.block('ram');
    if (block === undefined) throw new Error('no block');
    block.bytes.set(patternBytes(8 * MiB));
    const before = Buffer.from(block.bytes);
    await source.runState.start();
    const qemuUuid = 'aabbccdd-eeff-0011-2233-445566778899';
    const [failure, stderr, exited] = await withQemu({ machine: 'none', memoryMiB: 64, paused: true, extraArgs: ['-incoming', 'defer', '-uuid', qemuUuid], ...qemuOpt }, async (q) => {
      await setMultifd(q, 2);
      const uri = await listenForMigration(q);
      const err: unknown = await source
        .migrate(uri, { streamCompat: qemu.streamCompat, multifdChannels: 2, uuid: TEST_UUID, transferTimeoutMs: 5000 })
        .then(() => undefined, (e: unknown) => e);
      // 7.2 reports each channel and keeps waiting in inmigrate; 10.0 exits.
      await stderrContains(q, 'received uuid');
      if (qemu.version !== '7.2') await withTimeout(q.exit, 10_000, () => `QEMU to exit (stderr: ${q.stderr})`);
      return [err, q.stderr, q.exited] as const;
    });
    expect(failure).toBeInstanceOf(MigrationError);
    if (qemu.version === '7.2') {
      // 7.2 closes the refused channels and waits on: the first channel's write fails.
      expect(causes(failure).some((e) => e instanceof MultifdChannelError && e.channel === 0), String(failure)).toBe(true);
      expect(exited).toBeUndefined();
    } else {
      // 10.0 exits on the refusal: whichever connection savevm writes first breaks.
      expect(exited?.code).toBe(1);
    }
    expect(stderr).toContain(`multifd: received uuid '${TEST_UUID}' and expected uuid '${qemuUuid}' for channel`);
    expect(source.runState.isRunning).toBe(true);
    expect(vm.ram.migrating).toBe(false);
    expect(block.bytes.equals(before)).toBe(true);
  });

  it('(c) a savevm source with 2 channels to a QEMU destination expecting 4: QEMU never starts loading, the source fails within its verdict timeout and its VM runs on unchanged', async () => {
    const source = await createMigrationSession();
    const vm = registerNoneMachine64(source.registry, RunState.RUNNING);
    const block = vm.ram.block('ram');
    if (block === undefined) throw new Error('no block');
    block.bytes.set(patternBytes(8 * MiB));
    const before = Buffer.from(block.bytes);
    await source.runState.start();
    const started = Date.now();
    const [failure, status] = await withQemu({ machine: 'none', memoryMiB: 64, paused: true, extraArgs: ['-incoming', 'defer'], ...qemuOpt }, async (q) => {
      await setMultifd(q, 4);
      const uri = await listenForMigration(q);
      const migration = source.migrate(uri, { streamCompat: qemu.streamCompat, multifdChannels: 2, verdictTimeoutMs: 2000 });
      await sleep(1000);
      const waiting = await queryStatus(q);
      const err: unknown = await migration.then(() => undefined, (e: unknown) => e);
      return [err, waiting] as const;
    });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(failure).toBeInstanceOf(MigrationError);
    expect(String(failure)).toContain('the destination did not say how its load ended within 2000 ms');
    // QEMU loads only once the main channel and all its channels are there: a second into
    // the migration it still waits, without a word back.
    expect(status).toBe('inmigrate');
    expect(source.runState.isRunning).toBe(true);
    expect(vm.ram.migrating).toBe(false);
    expect(block.bytes.equals(before)).toBe(true);
  });
});
