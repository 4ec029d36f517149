/**
 * QEMU's return path against QEMU 7.2 and 10.0 over TCP, in both directions: a QEMU source
 * with `return-path` on completes only when a savevm destination says SHUT 0, and fails
 * when it says SHUT 1; a savevm source gets QEMU's PONGs and SHUT 0 and completes, and when
 * QEMU refuses the stream the savevm source fails with DESTINATION_FAILED and runs again
 * with its devices intact. There the versions differ (docs/design/qemu-versions.md §2):
 * 7.2 closes without SHUT, 10.0 says SHUT 1 first — unless it refused the stream before
 * the return path was open (another machine type in the configuration).
 */
import { MigrationError, RunState, runStateNameOf, type SaveVMHandlers, type StreamCompat } from '@savevm/core';
import { ReturnPathReader, createMigrationSession, openOutgoing, type IncomingParameters, type MigrationSession } from '@savevm/session';
import { SAVEVM_WORDS_PING_VALUE, type QemuFileWriter } from '@savevm/stream';
import { expect, it } from 'vitest';
import { registerNoneMachine, type NoneMachineState } from './none-machine-devices.js';
import { describeEachQemu, queryStatus, withQemu, type QemuProcess } from './qemu-harness.js';
import { awaitMigrationEnd, listenForMigration, migrationStatus, setReturnPath } from './qemu-live-migration.js';

/** What a QEMU destination prints when it gives up on an incoming stream. */
const LOAD_FAILED = 'load of migration failed';

/** The rejection of `promise`, or undefined when it resolves. */
async function rejectionOf(promise: PromiseLike<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describeEachQemu((v) => `QEMU ${v} source with return-path on → savevm destination (tcp:)`, (qemuFacts) => {
  /**
   * Runs QEMU (`-machine none`, not paused) migrating to a savevm destination, with the
   * return path on unless `returnPath` is false; `options` may reach the QEMU process.
   */
  async function fromQemu(destination: MigrationSession, options: (qemu: () => QemuProcess) => IncomingParameters, returnPath = true) {
    let qemu: QemuProcess | undefined;
    const running = (): QemuProcess => {
      if (qemu === undefined) throw new Error('QEMU has not started');
      return qemu;
    };
    const incoming = destination.incoming('tcp:127.0.0.1:0', { machine: 'none', ...options(running) });
    const { uri } = await incoming.listening;
    return withQemu({ machine: 'none', paused: false, qemu: qemuFacts.version }, async (q) => {
      qemu = q;
      await setReturnPath(q, returnPath);
      await (await q.qmp()).execute('migrate', { uri });
      const end = await awaitMigrationEnd(q);
      const loaded = await incoming.then(
        (info) => ({ info, error: undefined }),
        (error: unknown) => ({ info: undefined, error }),
      );
      return { end, loaded, status: await queryStatus(q), stderr: q.stderr };
    });
  }

  it('savevm loads ram, timer and globalstate and says SHUT 0: query-migrate completed', async () => {
    const dst = await createMigrationSession();
    const state = registerNoneMachine(dst.registry, { ram: true, runState: RunState.PRELAUNCH });
    const before = { ...state.timer };
    const { end, loaded, status, stderr } = await fromQemu(dst, () => ({}));
    expect(stderr).toBe('');
    expect(end).toEqual({ status: 'completed', errorDesc: undefined });
    expect(status).toBe('postmigrate');
    expect(loaded.error).toBeUndefined();
    expect(loaded.info?.status).toBe('completed');
    // QEMU's values replaced ours: its globalstate says it was running.
    expect(runStateNameOf(state.global)).toBe('running');
    expect(state.timer).not.toEqual(before);
    expect(dst.runState.state).toBe(RunState.PAUSED);
  });

  it(`QEMU waits for the SHUT: while savevm still checks the loaded state, QEMU is ${qemuFacts.statusAwaitingShut}`, async () => {
    const dst = await createMigrationSession();
    registerNoneMachine(dst.registry, { ram: true });
    const seen: string[] = [];
    const { end } = await fromQemu(dst, (qemu) => ({ verifyLoaded: async () => void seen.push(await migrationStatus(qemu())) }));
    expect(seen).toEqual([qemuFacts.statusAwaitingShut]);
    expect(end.status).toBe('completed');
  });

  it('control: with return-path off, QEMU completes while savevm still checks the loaded state', async () => {
    const dst = await createMigrationSession();
    registerNoneMachine(dst.registry, { ram: true });
    const seen: string[] = [];
    const { end, loaded } = await fromQemu(dst, (qemu) => ({ verifyLoaded: async () => void seen.push((await awaitMigrationEnd(qemu())).status) }), false);
    expect(seen).toEqual(['completed']);
    expect(end.status).toBe('completed');
    expect(loaded.info?.status).toBe('completed');
  });

  const refusals: readonly [string, (dst: MigrationSession) => void, IncomingParameters, object][] = [
    [
      'a timer entry at version 1 (QEMU sends version 2)',
      (dst) => registerNoneMachine(dst.registry, { ram: true, timerVersion: 1 }),
      {},
      { reason: 'VERSION_TOO_NEW', entry: { idstr: 'timer', instanceId: 0 } },
    ],
    [
      'verifyLoaded throwing',
      (dst) => registerNoneMachine(dst.registry, { ram: true }),
      {
        verifyLoaded: () => {
          throw new Error('the timer is not ours');
        },
      },
      { phase: 'load-verify', message: expect.stringContaining('the timer is not ours') },
    ],
  ];

  it.each(refusals)('savevm refuses the state (%s) and says SHUT 1: QEMU fails and runs again', async (_, register, options, refusal) => {
    const dst = await createMigrationSession();
    register(dst);
    const { end, loaded, status, stderr } = await fromQemu(dst, () => options);
    expect(end.status).toBe('failed');
    expect(stderr).toContain(qemuFacts.siblingError);
    if (qemuFacts.version !== '7.2') expect(stderr).not.toContain(`RP: ${qemuFacts.siblingError}`);
    expect(status).toBe('running');
    expect(loaded.error).toBeInstanceOf(MigrationError);
    expect(loaded.error).toMatchObject(refusal);
    expect(dst.runState.isRunning).toBe(false);
  });
});

/** A savevm-only device (QEMU has no such section) whose state is `size` bytes. */
class ScratchDevice implements SaveVMHandlers {
  readonly state: Buffer;
  constructor(size: number) {
    this.state = Buffer.alloc(size, 0x5a);
  }
  saveState(f: QemuFileWriter): void {
    f.putBe32(this.state.length);
    f.putBuffer(this.state);
  }
}

describeEachQemu((v) => `savevm source → QEMU ${v} destination (-incoming, tcp:)`, (qemuFacts) => {
  /** A running savevm VM with QEMU's `-machine none` entries. */
  async function sourceVm(): Promise<{ session: MigrationSession; state: NoneMachineState }> {
    const session = await createMigrationSession();
    const state = registerNoneMachine(session.registry);
    await session.runState.start();
    return { session, state };
  }

  /** Runs QEMU (`-machine none -S -incoming defer`) listening on a free port. */
  function toQemu<T>(fn: (uri: string, q: QemuProcess) => Promise<T>): Promise<T> {
    return withQemu({ machine: 'none', paused: true, extraArgs: ['-incoming', 'defer'], qemu: qemuFacts.version }, async (q) => fn(await listenForMigration(q), q));
  }

  // QEMU 7.2 refuses a qemu-10.0 stream (SWITCHOVER_START): shown with the refusals below.
  const compats: StreamCompat[] = qemuFacts.acceptsSwitchoverStart ? ['qemu-7.2', 'qemu-10.0'] : ['qemu-7.2'];
  it.each(compats)('migrate(uri) under streamCompat %s completes once QEMU loaded timer + globalstate and said SHUT 0; QEMU is paused', async (streamCompat) => {
    const { session } = await sourceVm();
    await toQemu(async (uri, q) => {
      const connected: boolean[] = [];
      const info = await session.migrate(uri, { onConnected: (p) => connected.push(p.returnPath), streamCompat });
      expect(connected).toEqual([true]);
      expect(info.status).toBe('completed');
      expect(info.streamCompat).toBe(streamCompat);
      expect(session.runState.state).toBe(RunState.POSTMIGRATE);
      expect(await awaitMigrationEnd(q)).toEqual({ status: 'completed', errorDesc: undefined });
      expect(await queryStatus(q)).toBe('paused');
      expect(q.stderr).toBe('');
    });
  });

  it('QEMU answers PING 1 and savevm\'s PING with PONGs of the same values, then SHUT 0', async () => {
    const { session } = await sourceVm();
    await toQemu(async (uri) => {
      const transport = await openOutgoing(uri);
      try {
        if (transport.returnPath === undefined) throw new Error('tcp: has no return path');
        const reader = new ReturnPathReader(transport.returnPath);
        const info = await session.source.migrate(transport.writer, { returnPath: reader });
        expect(info.status).toBe('completed');
        expect(reader.pongs).toEqual([1, SAVEVM_WORDS_PING_VALUE]);
        expect(await reader.waitForVerdict(0)).toEqual({ kind: 'loaded' });
      } finally {
        await transport.close();
      }
    });
  });

  /** What QEMU is sent that it refuses, and what it prints. */
  interface Refusal {
    /** Adds to the savevm VM what QEMU does not have. */
    readonly add: (session: MigrationSession) => ScratchDevice | undefined;
    /** The machine type in the configuration section. */
    readonly machine: string;
    /** A line QEMU prints on stderr. */
    readonly qemuSays: string;
    /** Whether the savevm source is still writing when QEMU gives up (its writes then fail). */
    readonly stillWriting: boolean;
    /** Whether QEMU refuses it after it opened the return path (10.0 then says SHUT 1). */
    readonly afterReturnPath: boolean;
    /** The stream the savevm source writes (default qemu-7.2). */
    readonly streamCompat?: StreamCompat;
  }
  const unknownSection = "Unknown savevm section or instance 'savevm-scratch' 0";
  const scratch = (size: number) => (session: MigrationSession) => {
    const device = new ScratchDevice(size);
    session.registry.register('savevm-scratch', 0, 1, device);
    return device;
  };
  const refusals: readonly [string, Refusal][] = [
    ['a section QEMU does not know', { add: scratch(20), machine: 'none', qemuSays: unknownSection, stillWriting: false, afterReturnPath: true }],
    // QEMU gives up on the section header while 32 MiB of its body are still on the way: the
    // savevm source's writes fail (EPIPE/ECONNRESET), and it still blames the destination.
    [
      'a section QEMU does not know, its body still being written',
      { add: scratch(32 << 20), machine: 'none', qemuSays: unknownSection, stillWriting: true, afterReturnPath: true },
    ],
    [
      'another machine type in the configuration',
      {
        add: () => undefined,
        machine: 'pc-i440fx-7.2',
        qemuSays: "Machine type received is 'pc-i440fx-7.2' and local is 'none'",
        stillWriting: false,
        afterReturnPath: false,
      },
    ],
    // QEMU 7.2 does not know the command QEMU 10.0's streams carry.
    ...(qemuFacts.acceptsSwitchoverStart
      ? []
      : [
          [
            'streamCompat qemu-10.0: SWITCHOVER_START',
            { add: () => undefined, machine: 'none', qemuSays: 'MIG_CMD 0xb unknown (len 0x0)', stillWriting: false, afterReturnPath: true, streamCompat: 'qemu-10.0' },
          ] as [string, Refusal],
        ]),
  ];

  const says = qemuFacts.shutOnFailedLoad ? 'says SHUT 1 (when its return path is open) and closes' : 'closes without SHUT';
  it.each(refusals)(`QEMU refuses the stream (%s) and ${says}: DESTINATION_FAILED, VM running, state intact`, async (_, refusal) => {
    const { session, state } = await sourceVm();
    const device = refusal.add(session);
    const scratchBefore = device && Buffer.from(device.state);
    const timer = { ...state.timer };
    const global = Buffer.from(state.global.runstate);
    await toQemu(async (uri, q) => {
      const error = await rejectionOf(session.migrate(uri, { machine: refusal.machine, verdictTimeoutMs: 10_000, streamCompat: refusal.streamCompat ?? 'qemu-7.2' }));
      expect(error).toBeInstanceOf(MigrationError);
      expect(error).toMatchObject({ reason: 'DESTINATION_FAILED' });
      // Not a timeout: QEMU 10.0's SHUT 1, or the connection closing, is the verdict.
      const shut = qemuFacts.shutOnFailedLoad && refusal.afterReturnPath;
      const closed = 'the destination did not say how its load ended: ';
      const failed = 'the destination failed to load the state (SHUT 1)';
      const message = (error as MigrationError).message;
      if (!shut) expect(message).toContain(closed);
      // QEMU 10.0 closes a socket that still holds unread bytes of the body: the reset can
      // overtake its SHUT 1, and then the broken connection is the verdict.
      else if (refusal.stillWriting) expect([failed, closed].some((m) => message.includes(m)), message).toBe(true);
      else expect(message).toContain(failed);
      if (refusal.stillWriting) {
        // The failed write is kept as the cause.
        expect((error as MigrationError).cause).toMatchObject({ errno: expect.stringMatching(/^(EPIPE|ECONNRESET)$/) });
      } else {
        expect(error).toMatchObject({ phase: 'destination-verdict' });
        expect((error as MigrationError).cause).toBeUndefined();
      }
      expect(session.source.info.status).toBe('failed');
      expect(session.runState.isRunning).toBe(true);
      expect(state.timer).toEqual(timer);
      expect(Buffer.from(state.global.runstate)).toEqual(global);
      // Buffer.equals: a deep equality over 32 MiB would take minutes.
      expect(device === undefined || (scratchBefore !== undefined && device.state.equals(scratchBefore))).toBe(true);
      expect(await q.exit).toEqual({ code: 1, signal: null });
      expect(q.stderr).toContain(refusal.qemuSays);
      expect(q.stderr).toContain(LOAD_FAILED);
    });
  });
});
