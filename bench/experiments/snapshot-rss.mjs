// Issue 17 item 10, second part: RSS of back-to-back snapshot + restore runs in one process
// with no event-loop turn between them. One run (mode session) = `session.migrate('file:…')`
// of a paused VM with one device of `state` bytes, then `session.incoming('file:…')` of the
// same file into a second session. Prints the RSS (and V8's heap and external memory) every
// few runs, then after event-loop turns and after a full GC (with --expose-gc). Numbers and
// what they show: docs/design/hostile-input.md, "Cost".
//
//   node --expose-gc bench/experiments/snapshot-rss.mjs [runs=50] [state=8M] [mode] [turn=0|1]
//
// mode session (default): a device whose state is one buffer, through the sessions;
// vfio-memory: an emulated VFIO v2 device of `state` bytes (its own emulated kernel) on each
// side, through their MigrationSource / MigrationDestination over memory channels (no I/O,
// so no event-loop turn at all); user-memory: no migration, only what the emulated VFIO
// kernel does with a buffer passed by pointer (a DMA map, a dirty bitmap): a new `state`-byte
// buffer per run given an address (`EmulatedUserMemory.addressOf`, a `WeakRef`) and resolved
// back, then dropped; core-fd / core-memory: the one-buffer device through
// MigrationSource / MigrationDestination over a sync FdChannel on the file / over memory
// channels. turn=1 gives the event loop a turn (setImmediate) after every run. LOAD=fresh
// makes the one-buffer device load into a new buffer (getBytes) each time.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { FdChannel, MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { MigrationBlockers, MigrationDestination, MigrationNotifiers, MigrationSource, RunState, RunStateController, SaveStateRegistry } from '@savevm/core';
import { createMigrationSession } from '@savevm/session';
import { VfioMigrationFlags } from '@savevm/vfio';
import { EmulatedUserMemory, createEmulatedDevice } from '@savevm/vfio/emulated';
import { vfioV2ContainerModule } from '@savevm/vfio-v2';
import { parseBytes } from '../lib/common.mjs';

const RUNS = Number(process.argv[2] ?? 50);
const STATE = parseBytes(process.argv[3] ?? '8M');
const MODE = process.argv[4] ?? 'session';
const TURN = process.argv[5] === '1';
const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'savevm-rss-'));
const file = path.join(dir, 'vm.mig');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

/** A device whose whole state is one buffer, saved in one put and loaded into its own buffer. */
class BlobDevice {
  constructor(fill) {
    this.state = Buffer.alloc(STATE, fill);
  }
  saveState(f) {
    f.putBuffer(this.state);
  }
  async loadState(f) {
    // LOAD=fresh: a new buffer per load (`getBytes`), as a device that replaces its state does.
    if (process.env.LOAD === 'fresh') this.state = await f.getBytes(STATE);
    else await f.readInto(this.state);
  }
}

const MiB = 2 ** 20;
const mem = () => {
  const m = process.memoryUsage();
  return `rss ${(m.rss / MiB).toFixed(1)} MiB, heap ${(m.heapUsed / MiB).toFixed(1)} MiB, external ${(m.external / MiB).toFixed(1)} MiB (arrayBuffers ${(m.arrayBuffers / MiB).toFixed(1)})`;
};

let runOnce;
if (MODE === 'user-memory') {
  const memory = new EmulatedUserMemory();
  runOnce = async () => {
    const buffer = Buffer.alloc(STATE, 1);
    const resolved = memory.resolve(memory.addressOf(buffer), STATE);
    if (!(resolved instanceof Uint8Array)) throw new Error(`resolve gave ${resolved}`);
    await null;
  };
} else if (MODE === 'vfio-memory') {
  const vm = async (seed) => {
    const session = await createMigrationSession({ providers: [vfioV2ContainerModule()] });
    const { device } = createEmulatedDevice({ name: '0000:00:03.0', protocol: 'v2', migrationFlags: VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P, stateSize: STATE, seed });
    await session.attach(device, 'emulated');
    return session;
  };
  const src = await vm(1);
  const dst = await vm(2);
  await src.runState.stop(RunState.PAUSED);
  runOnce = async () => {
    const channel = new MemoryWriteChannel();
    await src.source.migrate(new QemuFileWriter(channel), { maxBandwidth: 0 });
    await dst.destination.load(new QemuFileReader(new MemoryReadChannel(channel.bytes())));
    await dst.runState.stop(RunState.PAUSED);
  };
} else if (MODE === 'session') {
  const src = await createMigrationSession();
  const dst = await createMigrationSession();
  src.registry.register('blob', 0, 1, new BlobDevice(1));
  dst.registry.register('blob', 0, 1, new BlobDevice(0));
  await src.runState.stop(RunState.PAUSED);
  runOnce = async () => {
    await src.migrate(`file:${file}`);
    await dst.incoming(`file:${file}`);
  };
} else {
  const side = (initial, fill) => {
    const registry = new SaveStateRegistry();
    registry.register('blob', 0, 1, new BlobDevice(fill));
    return { registry, runState: new RunStateController(initial), blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() };
  };
  const s = side(RunState.PAUSED, 1);
  const d = side(RunState.INMIGRATE, 0);
  const source = new MigrationSource(s);
  const destination = new MigrationDestination(d);
  runOnce = async () => {
    if (MODE === 'core-memory') {
      const channel = new MemoryWriteChannel();
      await source.migrate(new QemuFileWriter(channel), { maxBandwidth: 0 });
      d.runState.setState(RunState.INMIGRATE);
      await destination.load(new QemuFileReader(new MemoryReadChannel(channel.bytes())));
      return;
    }
    const out = fs.openSync(file, 'w');
    try {
      await source.migrate(new QemuFileWriter(new FdChannel(out, { mode: 'sync' })), { maxBandwidth: 0 });
    } finally {
      fs.closeSync(out);
    }
    const input = fs.openSync(file, 'r');
    try {
      d.runState.setState(RunState.INMIGRATE);
      await destination.load(new QemuFileReader(new FdChannel(input, { mode: 'sync' })));
    } finally {
      fs.closeSync(input);
    }
  };
}

await runOnce(); // warm-up
await turn();
globalThis.gc?.();
await turn();
console.log(`${MODE}, state ${STATE} bytes, ${RUNS} runs, ${TURN ? 'a turn after each' : 'no event-loop turn between them'}`);
console.log(`before: ${mem()}`);
const t0 = performance.now();
for (let i = 1; i <= RUNS; i++) {
  await runOnce();
  if (TURN) await turn();
  if (i % 5 === 0 || i === 1) console.log(`after run ${i}: ${mem()}`);
}
console.log(`${RUNS} runs in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
await turn();
console.log(`after one turn: ${mem()}`);
for (let i = 0; i < 10; i++) await turn();
console.log(`after ten turns: ${mem()}`);
await new Promise((r) => setTimeout(r, 200));
console.log(`after 200 ms: ${mem()}`);
if (globalThis.gc) {
  globalThis.gc();
  console.log(`after gc(): ${mem()}`);
  // ArrayBuffers found dead are freed by a sweeper on another thread: let it finish.
  await new Promise((r) => setTimeout(r, 200));
  console.log(`200 ms after gc(): ${mem()}`);
}
