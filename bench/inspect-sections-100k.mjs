// inspect.sections-100k: `inspectRecords` — what `savevm inspect` runs, each record handed
// over and dropped — over a stream of 100,000 small FULL sections (16 bytes of state each,
// with the source's vmdesc), against the destination's own parse of the same bytes
// (MigrationDestination.load, handlers that read the 16 bytes) in the same run. Value and
// reference are sections per second (median of BENCH_RUNS, default 11, runs after a warm-up), so ratio =
// inspect ÷ destination: the goal is ≥ 0.5, and ≤ 5 µs per section (printed on stderr, with
// `inspectStream`, which collects every record, for comparison; issue 17 item 10). Run after
// `npm run build`.
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { MigrationBlockers, MigrationDestination, MigrationNotifiers, MigrationSource, RunState, RunStateController, SaveStateRegistry } from '@savevm/core';
import { inspectRecords, inspectStream } from '@savevm/inspect';
import { median, result } from './lib/common.mjs';

const SECTIONS = 100_000;
const STATE_BYTES = 16;
const RUNS = Number(process.env.BENCH_RUNS ?? 11);

/**
 * The devices' state, one slab for all of them: 200,000 small `Buffer.alloc`s would be as
 * many ArrayBuffers on the harness's heap, which the collector would walk in both arms.
 */
const slab = Buffer.alloc(4 * SECTIONS * STATE_BYTES); // two sides, two views per device
let slabUsed = 0;
function stateBytes() {
  const view = slab.subarray(slabUsed, slabUsed + STATE_BYTES);
  slabUsed += STATE_BYTES;
  return view;
}

/** A device with 16 bytes of non-live state. */
class SixteenBytes {
  constructor(seed) {
    this.state = stateBytes().fill(seed & 0xff);
    this.loaded = stateBytes();
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

function side(initial) {
  const registry = new SaveStateRegistry();
  const runState = new RunStateController(initial);
  for (let i = 0; i < SECTIONS; i++) registry.register(`dev${i}`, 0, 1, new SixteenBytes(i));
  return { registry, runState };
}

/**
 * The stream, from a source whose 100,000 handlers are then dropped: only the destination's
 * stay on the heap, so a major collection in either arm walks what that arm needs.
 */
async function sourceStream() {
  const src = side(RunState.RUNNING);
  const source = new MigrationSource({ ...src, blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
  const channel = new MemoryWriteChannel();
  await source.migrate(new QemuFileWriter(channel), { maxBandwidth: 0 });
  return channel.bytes();
}

const bytes = await sourceStream();
const dst = side(RunState.INMIGRATE);
const destination = new MigrationDestination(dst);

async function destinationRun() {
  dst.runState.setState(RunState.INMIGRATE);
  const t0 = performance.now();
  await destination.load(new QemuFileReader(new MemoryReadChannel(bytes)), { machine: 'none' });
  return performance.now() - t0;
}

/** What the CLI runs: every record handed over (here counted) and dropped. */
async function inspectRun() {
  let records = 0;
  const t0 = performance.now();
  await inspectRecords(bytes, () => void records++);
  const ms = performance.now() - t0;
  if (records < SECTIONS) throw new Error(`inspect saw ${records} records`);
  return ms;
}

/** The collecting form, for comparison (stderr only). */
async function collectRun() {
  const t0 = performance.now();
  const { records } = await inspectStream(bytes);
  const ms = performance.now() - t0;
  if (records.length < SECTIONS) throw new Error(`inspectStream saw ${records.length} records`);
  return ms;
}

for (let i = 0; i < 2; i++) {
  await destinationRun();
  await inspectRun();
}
const dest = [];
const insp = [];
for (let i = 0; i < RUNS; i++) {
  dest.push(await destinationRun());
  insp.push(await inspectRun());
}
const collect = [];
for (let i = 0; i < 3; i++) collect.push(await collectRun());
const perSecond = (ms) => Math.round((SECTIONS * 1000) / ms);
const inspectUs = (median(insp) * 1000) / SECTIONS;
const destinationUs = (median(dest) * 1000) / SECTIONS;
const collectUs = (median(collect) * 1000) / SECTIONS;
console.error(
  `inspect.sections-100k: ${bytes.length} bytes; inspect ${inspectUs.toFixed(2)} us/section, destination ${destinationUs.toFixed(2)} us/section (inspectStream, collecting: ${collectUs.toFixed(2)})`,
);
process.stdout.write(
  `${JSON.stringify(result('inspect.sections-100k', 'sections/s', perSecond(median(insp)), { name: 'destination load of the same stream', value: perSecond(median(dest)) }))}\n`,
);
