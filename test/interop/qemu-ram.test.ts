/**
 * Guest RAM against QEMU 7.2 and 10.0 `-M none -m 64M` (docs/design/ram-section.md §8,
 * docs/design/qemu-versions.md §1):
 * (a) QEMU's RAM, filled from a file with `-device loader`, migrates to a file and savevm
 *     loads it (with QEMU's timer and globalstate): the bytes equal the file;
 * (b) savevm's stream (ram + timer + globalstate) loads into QEMU and `pmemsave` reads back
 *     savevm's bytes — a paused snapshot, and a live migration over TCP during which the
 *     savevm guest keeps dirtying pages;
 * (c) hostile ram sections are refused by savevm and by QEMU alike, with QEMU's words; where
 *     7.2's loader differs from 10.0's (savevm follows 10.0: a ZERO fill byte other than 0,
 *     MULTIFD_FLUSH, the removed COMPRESS_PAGE, HOOK), each version's verdict is shown.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MigrationBlockers,
  MigrationDestination,
  MigrationError,
  MigrationNotifiers,
  MigrationSource,
  RunState,
  RunStateController,
  type StreamCompat,
} from '@savevm/core';
import { GuestRam, RamLoadError, registerRam } from '@savevm/ram';
import { createMigrationSession } from '@savevm/session';
import {
  MemoryReadChannel,
  MemoryWriteChannel,
  QemuFileReader,
  QemuFileWriter,
  writeConfiguration,
  writeEof,
  writeHeader,
  writeSectionEnd,
  writeSectionFooter,
  writeSectionPart,
  writeSectionStart,
} from '@savevm/stream';
import { afterAll, expect, it } from 'vitest';
import {
  describeEachQemu,
  loadStream,
  shellQuote,
  withQemu,
  withTimeout,
  type QemuFacts,
  type QemuProcess,
} from './qemu-harness.js';
import { awaitMigrationEnd, setReturnPath } from './qemu-live-migration.js';
import { MiB, RAM_SIZE_64M, awaitIncoming, patternBytes, pmemsave, qmpField as field, registerNoneMachine64 } from './qemu-ram-peer.js';

const RAM_SIZE = RAM_SIZE_64M;
const dir = mkdtempSync(join(tmpdir(), 'savevm-qemu-ram-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Polls `query-migrate` on a QEMU source until `completed`; throws on failure. */
async function awaitQemuMigration(q: QemuProcess, timeoutMs = 20_000): Promise<void> {
  const poll = async (): Promise<void> => {
    const qmp = await q.qmp();
    for (;;) {
      const info = await qmp.execute('query-migrate');
      const status = field(info, 'status');
      if (status === 'completed') return;
      if (status === 'failed' || status === 'cancelled') throw new Error(`QEMU migration ${String(status)}: ${JSON.stringify(field(info, 'error-desc') ?? null)}`);
      await sleep(10);
    }
  };
  await withTimeout(poll(), timeoutMs, () => `QEMU's migration (stderr: ${q.stderr})`);
}

/** A paused savevm VM (ram + timer + globalstate) migrated into bytes, as `streamCompat` says. */
async function savevmSnapshot(ram: (r: GuestRam) => void, streamCompat: StreamCompat = 'qemu-7.2'): Promise<{ bytes: Buffer; ram: GuestRam }> {
  const source = await createMigrationSession();
  const vm = registerNoneMachine64(source.registry, RunState.PAUSED);
  ram(vm.ram);
  const channel = new MemoryWriteChannel();
  const m = new MigrationSource({ registry: source.registry, runState: new RunStateController(RunState.PAUSED), blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
  const info = await m.migrate(new QemuFileWriter(channel), { machine: 'none', maxBandwidth: 0, streamCompat });
  expect(info.status).toBe('completed');
  return { bytes: channel.bytes(), ram: vm.ram };
}

describeEachQemu((v) => `guest RAM against QEMU ${v} -M none -m 64M`, (qemu) => {
  const qemuOpt = { qemu: qemu.version };
  it('(a) QEMU → savevm: RAM filled by -device loader migrates to a file; savevm loads ram, timer, globalstate; the bytes equal the file', async () => {
    const pattern = patternBytes(8 * MiB);
    const file = join(dir, 'pattern.bin');
    writeFileSync(file, pattern);
    const out = join(dir, 'from-qemu.mig');
    await withQemu({ machine: 'none', memoryMiB: 64, paused: true, extraArgs: ['-device', `loader,file=${file},addr=0,force-raw=on`], ...qemuOpt }, async (q) => {
      const part = `${out}.part`;
      await (await q.qmp()).execute('migrate', { uri: `exec:cat > ${shellQuote(part)} && mv ${shellQuote(part)} ${shellQuote(out)}` });
      await awaitQemuMigration(q);
      const deadline = Date.now() + 10_000;
      while (!existsSync(out) && Date.now() < deadline) await sleep(10);
    });
    const switchovers: string[] = [];
    const session = await createMigrationSession();
    const vm = registerNoneMachine64(session.registry, RunState.PRELAUNCH);
    vm.ram.blocks[0]?.bytes.fill(0xee); // garbage, so zero pages must be written
    // QEMU 10.0's stream carries SWITCHOVER_START before its END sections.
    session.registry.register('switchover-probe', 0, 1, { switchoverStart: () => void switchovers.push('switchover-start') });
    const info = await session.incoming(`file:${out}`, { machine: 'none' });
    expect(switchovers).toEqual(qemu.sendsSwitchoverStart ? ['switchover-start'] : []);
    expect(info.status).toBe('completed');
    const loaded = vm.ram.block('ram')?.bytes;
    expect(loaded?.subarray(0, pattern.length).equals(pattern)).toBe(true);
    expect(loaded?.subarray(pattern.length).every((b) => b === 0)).toBe(true);
    expect(vm.handlers.loader.stats.pages + vm.handlers.loader.stats.zeroPages).toBe(RAM_SIZE / 4096);
    expect(vm.handlers.loader.stats.pages).toBe((pattern.length / 4096) * 0.75);
  });

  it('(a) QEMU → savevm over tcp, return path on: RAM filled by -device loader arrives byte for byte and QEMU completes on savevm\'s SHUT 0', async () => {
    const pattern = patternBytes(8 * MiB);
    const file = join(dir, 'pattern-tcp.bin');
    writeFileSync(file, pattern);
    const session = await createMigrationSession();
    const vm = registerNoneMachine64(session.registry, RunState.PRELAUNCH);
    vm.ram.blocks[0]?.bytes.fill(0xee); // garbage, so zero pages must be written
    session.registry.register('switchover-probe', 0, 1, { switchoverStart: () => undefined });
    const incoming = session.incoming('tcp:127.0.0.1:0', { machine: 'none' });
    const { uri } = await incoming.listening;
    const end = await withQemu({ machine: 'none', memoryMiB: 64, paused: false, extraArgs: ['-device', `loader,file=${file},addr=0,force-raw=on`], ...qemuOpt }, async (q) => {
      await setReturnPath(q, true);
      await (await q.qmp()).execute('migrate', { uri });
      return awaitMigrationEnd(q, 20_000);
    });
    expect(end.status).toBe('completed');
    expect((await incoming).status).toBe('completed');
    const loaded = vm.ram.block('ram')?.bytes;
    expect(loaded?.subarray(0, pattern.length).equals(pattern)).toBe(true);
    expect(loaded?.subarray(pattern.length).every((b) => b === 0)).toBe(true);
  });

  it(`(b) savevm → QEMU, paused snapshot under streamCompat ${qemu.streamCompat}: QEMU -incoming loads it and pmemsave reads back savevm's bytes`, async () => {
    const { bytes, ram } = await savevmSnapshot((r) => {
      const block = r.block('ram');
      block?.bytes.set(patternBytes(16 * MiB), 0x100000);
      block?.bytes.fill(0x5a, 60 * MiB, 60 * MiB + 3 * 4096);
    }, qemu.streamCompat);
    const mem = await withQemu({ machine: 'none', memoryMiB: 64, paused: true, incoming: bytes, ...qemuOpt }, async (q) => {
      const status = await awaitIncoming(q);
      expect(status, q.stderr).toBe('paused');
      return pmemsave(q, RAM_SIZE);
    });
    expect(mem.equals(ram.block('ram')?.bytes ?? Buffer.alloc(0))).toBe(true);
  });

  it(`(b) savevm → QEMU, live over tcp under streamCompat ${qemu.streamCompat}: while the savevm guest dirties pages: QEMU completes and pmemsave reads back savevm's final bytes`, async () => {
    const source = await createMigrationSession();
    const vm = registerNoneMachine64(source.registry, RunState.RUNNING);
    const block = vm.ram.block('ram');
    if (block === undefined) throw new Error('no block');
    block.bytes.set(patternBytes(RAM_SIZE));
    await source.runState.start();
    const mem = await withQemu({ machine: 'none', memoryMiB: 64, paused: true, extraArgs: ['-incoming', 'defer'], ...qemuOpt }, async (q) => {
      const qmp = await q.qmp();
      await qmp.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0' });
      const addresses = field(await qmp.execute('query-migrate'), 'socket-address');
      const port = Array.isArray(addresses) ? field(addresses[0], 'port') : undefined;
      if (typeof port !== 'string') throw new Error(`QEMU named no listening port: ${JSON.stringify(addresses ?? null)}`);
      // A guest that keeps writing while pre-copy runs; it stops when the VM does.
      let writes = 0;
      let x = 12345;
      const guest = setInterval(() => {
        if (!source.runState.isRunning) return;
        for (let i = 0; i < 8; i++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          const offset = (x % (RAM_SIZE / 8)) * 8;
          block.bytes.writeUInt32LE(x, offset);
          block.bytes.writeUInt32LE(++writes, offset + 4);
          vm.ram.markDirty(block, offset, 8);
        }
      }, 1);
      let info;
      try {
        // 64 MiB at 128 MiB/s: about half a second per pass.
        info = await source.migrate(`tcp:127.0.0.1:${port}`, { maxBandwidth: 128 * MiB, downtimeLimitMs: 100, streamCompat: qemu.streamCompat });
      } finally {
        clearInterval(guest);
      }
      expect(info.status).toBe('completed');
      expect(info.iterations).toBeGreaterThan(1);
      expect(writes).toBeGreaterThan(0);
      const status = await awaitIncoming(q);
      expect(status, q.stderr).toBe('paused');
      return pmemsave(q, RAM_SIZE);
    });
    expect(vm.handlers.saver.stats.pages + vm.handlers.saver.stats.zeroPages).toBeGreaterThan(RAM_SIZE / 4096);
    expect(mem.equals(block.bytes)).toBe(true);
  });
});

const LIST_64M = hexBody('0000000004000004 03 "ram" 0000000004000000');
const EOS = hexBody('0000000000000010');
const RAM = { sectionId: 2, idstr: 'ram', instanceId: 0, versionId: 4 } as const;

/** Bytes from hex with `"ascii"` tokens. */
function hexBody(text: string): Buffer {
  return Buffer.concat((text.match(/"[^"]*"|[0-9a-fA-F]+/g) ?? []).map((t) => (t.startsWith('"') ? Buffer.from(t.slice(1, -1), 'latin1') : Buffer.from(t, 'hex'))));
}

/** Header, configuration "none", START ram (`start` body), then PART bodies, END ram (EOS), EOF. */
async function ramStream(start: Buffer, parts: Buffer[]): Promise<Buffer> {
  const channel = new MemoryWriteChannel();
  const f = new QemuFileWriter(channel);
  writeHeader(f);
  writeConfiguration(f, 'none');
  writeSectionStart(f, RAM);
  f.putBuffer(start);
  writeSectionFooter(f, RAM.sectionId);
  for (const body of parts) {
    writeSectionPart(f, RAM.sectionId);
    f.putBuffer(body);
    writeSectionFooter(f, RAM.sectionId);
  }
  writeSectionEnd(f, RAM.sectionId);
  f.putBuffer(EOS);
  writeSectionFooter(f, RAM.sectionId);
  writeEof(f);
  await f.flush();
  return channel.bytes();
}

/** savevm's verdict on a stream: its RamLoadError, or undefined when it loaded. */
async function savevmVerdict(stream: Buffer): Promise<{ error: RamLoadError | undefined; ram: GuestRam }> {
  const { ram, registry } = await (async () => {
    const session = await createMigrationSession();
    const r = new GuestRam();
    r.addBlock('ram', Buffer.alloc(RAM_SIZE));
    registerRam(session.registry, r);
    return { ram: r, registry: session.registry };
  })();
  const destination = new MigrationDestination({ registry, runState: new RunStateController(RunState.INMIGRATE) });
  try {
    await destination.load(new QemuFileReader(new MemoryReadChannel(stream)), { machine: 'none' });
    return { error: undefined, ram };
  } catch (err) {
    expect(err).toBeInstanceOf(MigrationError);
    const cause = (err as MigrationError).cause;
    expect(cause).toBeInstanceOf(RamLoadError);
    return { error: cause as RamLoadError, ram };
  }
}

const PAGE = Buffer.alloc(4096, 0xab).toString('hex');

/** A ram flag where QEMU 7.2's loader and 10.0's differ (savevm's follows 10.0). */
interface FlagRule {
  /** What the record is. */
  readonly what: string;
  /** The PART body carrying it. */
  readonly part: Buffer;
  /** savevm's words, or undefined when it takes the record. */
  readonly savevm: readonly string[] | undefined;
  /** Each QEMU's words when it refuses (`[]`: no specific words), or `accepted`. */
  readonly qemu: Readonly<Record<QemuFacts['version'], readonly string[] | 'accepted'>>;
}

const FLAG_RULES: readonly FlagRule[] = [
  {
    what: 'MULTIFD_FLUSH (0x200)',
    part: hexBody('0000000000000200 0000000000000010'),
    savevm: undefined,
    qemu: { '7.2': ['Unknown combination of migration flags: 0x200'], '10.0': 'accepted' },
  },
  {
    what: 'HOOK (0x80) without RDMA',
    part: hexBody('0000000000000080 0000000000000010'),
    savevm: undefined,
    qemu: { '7.2': [], '10.0': 'accepted' },
  },
  {
    what: 'COMPRESS_PAGE (0x100), removed after 7.2',
    part: hexBody('0000000000020100 03 "ram" 00000004 deadbeef 0000000000000010'),
    savevm: ['Unknown combination of migration flags: 0x100'],
    qemu: { '7.2': ['Received an unexpected compressed page'], '10.0': ['Unknown combination of migration flags: 0x100'] },
  },
];

describeEachQemu((v) => `hostile ram sections: savevm and QEMU ${v} give the same verdict`, (qemu) => {
  const qemuOpt = { qemu: qemu.version };
  const hostile: [string, Buffer, Buffer[]][] = [
    ['MEM_SIZE names an unknown block', hexBody(`0000000004000004 05 "extra" 0000000004000000 0000000000000010`), []],
    ['MEM_SIZE gives another length', hexBody(`0000000002000004 03 "ram" 0000000002000000 0000000000000010`), []],
    ['a page names an unknown block', Buffer.concat([LIST_64M, EOS]), [hexBody(`0000000000020008 06 "nosuch" ${PAGE} 0000000000000010`)]],
    ['a page past the end of the block', Buffer.concat([LIST_64M, EOS]), [hexBody(`0000000004000008 03 "ram" ${PAGE} 0000000000000010`)]],
    ['CONTINUE on the first page', Buffer.concat([LIST_64M, EOS]), [hexBody(`0000000000020028 ${PAGE} 0000000000000010`)]],
    ['a flag combination QEMU rejects (0x408)', Buffer.concat([LIST_64M, EOS]), [hexBody(`0000000000020408 03 "ram" ${PAGE} 0000000000000010`)]],
    ['the obsolete FULL flag (0x1)', Buffer.concat([LIST_64M, EOS]), [hexBody(`0000000000000001 0000000000000010`)]],
  ];

  it.each(hostile)('%s: both refuse, and QEMU prints savevm\'s messages', async (_what, start, parts) => {
    const stream = await ramStream(start, parts);
    const ours = await savevmVerdict(stream);
    const result = await loadStream(stream, { machine: 'none', memoryMiB: 64, ...qemuOpt });
    expect(result.accepted).toBe(false);
    expect(result.stderr).toContain('load of migration failed');
    expect(ours.error).toBeDefined();
    for (const message of ours.error?.messages ?? []) expect(result.stderr).toContain(message);
  });

  it('control: a good stream is loaded by both, with the same bytes', async () => {
    const stream = await ramStream(Buffer.concat([LIST_64M, EOS]), [hexBody(`0000000000020008 03 "ram" ${PAGE} 0000000000021022 00 0000000000000010`)]);
    const ours = await savevmVerdict(stream);
    expect(ours.error).toBeUndefined();
    const qemuMem = await withQemu({ machine: 'none', memoryMiB: 64, paused: true, incoming: stream, ...qemuOpt }, async (q) => {
      expect(await awaitIncoming(q), q.stderr).toBe('paused');
      return pmemsave(q, RAM_SIZE);
    });
    expect(qemuMem.equals(ours.ram.block('ram')?.bytes ?? Buffer.alloc(0))).toBe(true);
  });

  const zeroFill = qemu.version === '7.2' ? 'QEMU 7.2 fills the page, savevm refuses (divergence: savevm follows 10.0)' : 'both refuse';
  it(`ZERO with fill 0x55: ${zeroFill} "Found a zero page with value 85"`, async () => {
    const stream = await ramStream(Buffer.concat([LIST_64M, EOS]), [hexBody('0000000000020002 03 "ram" 55 0000000000000010')]);
    const ours = await savevmVerdict(stream);
    expect(ours.error?.messages).toEqual(['Found a zero page with value 85']);
    if (qemu.version === '7.2') {
      const mem = await withQemu({ machine: 'none', memoryMiB: 64, paused: true, incoming: stream, ...qemuOpt }, async (q) => {
        expect(await awaitIncoming(q), q.stderr).toBe('paused');
        return pmemsave(q, 0x21000);
      });
      expect(mem.subarray(0x20000).every((b) => b === 0x55)).toBe(true);
    } else {
      const result = await loadStream(stream, { machine: 'none', memoryMiB: 64, ...qemuOpt });
      expect(result.accepted).toBe(false);
      expect(result.stderr).toContain('Found a zero page with value 85');
    }
  });

  for (const rule of FLAG_RULES) {
    const theirs = rule.qemu[qemu.version];
    const verdict = theirs === 'accepted' ? 'accepts it' : `refuses it${theirs.length > 0 ? ` ("${theirs.join('", "')}")` : ''}`;
    it(`${rule.what}: QEMU ${qemu.version} ${verdict}; savevm ${rule.savevm === undefined ? 'takes it as a no-op' : 'refuses it'}`, async () => {
      const stream = await ramStream(Buffer.concat([LIST_64M, EOS]), [rule.part]);
      const ours = await savevmVerdict(stream);
      expect(ours.error?.messages).toEqual(rule.savevm);
      const result = await loadStream(stream, { machine: 'none', memoryMiB: 64, ...qemuOpt });
      if (theirs === 'accepted') {
        expect(result, result.stderr).toMatchObject({ accepted: true, status: 'paused' });
      } else {
        expect(result.accepted).toBe(false);
        expect(result.stderr).toContain('load of migration failed');
        for (const words of theirs) expect(result.stderr).toContain(words);
      }
    });
  }

  it(`QEMU ${qemu.version} takes a live section numbered 0 for its first entry without a START (timer): something must come before ram`, async () => {
    const session = await createMigrationSession();
    const ram = new GuestRam();
    ram.addBlock('ram', Buffer.alloc(RAM_SIZE));
    expect(registerRam(session.registry, ram).sectionId).toBe(0);
    const m = new MigrationSource({ registry: session.registry, runState: new RunStateController(RunState.PAUSED), blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
    const channel = new MemoryWriteChannel();
    await m.migrate(new QemuFileWriter(channel), { machine: 'none', streamCompat: qemu.streamCompat });
    expect((await savevmVerdict(channel.bytes())).error).toBeUndefined();
    const result = await loadStream(channel.bytes(), { machine: 'none', memoryMiB: 64, ...qemuOpt });
    expect(result.accepted).toBe(false);
    expect(result.stderr).toContain('timer: incoming version_id 0 is too old');
  });

  it.each(['qemu-7.2', 'qemu-10.0'] as const)('the globalstate a savevm snapshot under streamCompat %s carries is the one QEMU enters without -S', async (compat) => {
    const { bytes } = await savevmSnapshot(() => undefined, compat);
    const result = await loadStream(bytes, { machine: 'none', memoryMiB: 64, paused: false, ...qemuOpt });
    if (compat === 'qemu-10.0' && !qemu.acceptsSwitchoverStart) {
      expect(result.accepted).toBe(false);
      expect(result.stderr).toContain('MIG_CMD 0xb unknown (len 0x0)');
    } else expect(result).toMatchObject({ accepted: true, status: 'paused' });
  });
});
