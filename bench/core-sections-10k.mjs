// core.sections-10k: 10,000 registered handlers with 16 bytes of state each; a full save
// + load round trip in memory. Prints one JSON line: microseconds per section (median of
// 5 runs after a warm-up). Run after `npm run build`.
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import {
  MigrationBlockers,
  MigrationDestination,
  MigrationNotifiers,
  MigrationSource,
  RunState,
  RunStateController,
  SaveStateRegistry,
} from '@savevm/core';

const SECTIONS = 10_000;
const STATE_BYTES = 16;
const RUNS = 5;

/** A device with 16 bytes of non-live state. */
class SixteenBytes {
  constructor(seed) {
    this.state = Buffer.alloc(STATE_BYTES, seed & 0xff);
    this.loaded = Buffer.alloc(STATE_BYTES);
  }
  saveState(f) {
    f.putBuffer(this.state);
  }
  loadState(f) {
    if (f.available >= STATE_BYTES) {
      this.loaded.set(f.takeView(STATE_BYTES));
      return undefined;
    }
    return f.readInto(this.loaded);
  }
}

function makeSide(initial) {
  const registry = new SaveStateRegistry();
  const runState = new RunStateController(initial);
  const devices = [];
  for (let i = 0; i < SECTIONS; i++) {
    const d = new SixteenBytes(i);
    devices.push(d);
    registry.register(`dev${i}`, 0, 1, d);
  }
  return { registry, runState, devices };
}

const src = makeSide(RunState.RUNNING);
const dst = makeSide(RunState.INMIGRATE);
const source = new MigrationSource({ registry: src.registry, runState: src.runState, blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
const destination = new MigrationDestination({ registry: dst.registry, runState: dst.runState });

async function roundTrip() {
  src.runState.setState(RunState.RUNNING);
  const channel = new MemoryWriteChannel();
  const t0 = performance.now();
  await source.migrate(new QemuFileWriter(channel), { maxBandwidth: 0 });
  const bytes = channel.bytes();
  await destination.load(new QemuFileReader(new MemoryReadChannel(bytes)), { machine: 'none' });
  const t1 = performance.now();
  const last = dst.devices[SECTIONS - 1];
  if (!last.loaded.equals(src.devices[SECTIONS - 1].state)) throw new Error('state not restored');
  return ((t1 - t0) * 1000) / SECTIONS;
}

// Warm-up: let the JIT settle before measuring.
for (let i = 0; i < 3; i++) await roundTrip();
const samples = [];
for (let i = 0; i < RUNS; i++) samples.push(await roundTrip());
samples.sort((a, b) => a - b);
const value = Number(samples[Math.floor(RUNS / 2)].toFixed(3));
process.stdout.write(`${JSON.stringify({ name: 'core.sections-10k', unit: 'us/section', value, reference: null, ratio: null })}\n`);
