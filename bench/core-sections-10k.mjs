// core.sections-10k: the drivers' cost per section. 10,000 registered non-live handlers with
// 16 bytes of state each; one round trip is a full MigrationSource.migrate into memory
// (vmdesc off) and a full MigrationDestination.load of those bytes. The reference, measured in
// the same run, is a hand-written loop with plain Buffer writes and reads that produces the
// same bytes (checked once: header, configuration section, FULL sections with idstr,
// instance, version, the 16 bytes and the footer, EOF) and parses them back into the same
// devices. Value and reference are sections per second (median of BENCH_RUNS interleaved
// runs, default 21, after 5 untimed ones), so ratio = framework ÷ reference: the goal is
// ≥ 0.5, a framework cost per section at most twice the hand-written one (issue 19). µs per
// section of both (wall and CPU), and of the framework with its vmdesc, go to stderr. Run
// after `npm run build`.
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { MigrationBlockers, MigrationDestination, MigrationNotifiers, MigrationSource, RunState, RunStateController, SaveStateRegistry } from '@savevm/core';
import { log, median, result } from './lib/common.mjs';

const SECTIONS = 10_000;
const STATE_BYTES = 16;
// A round trip takes 10–20 ms: more runs than the other benchmarks' 7 steady the medians
// on a shared machine.
const RUNS = Number(process.env.BENCH_RUNS ?? 21);
const MACHINE = 'none';

/** A device with 16 bytes of non-live state. */
class SixteenBytes {
  constructor(seed) {
    this.idstr = `dev${seed}`;
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
    registry.register(d.idstr, 0, 1, d);
  }
  return { registry, runState, devices };
}

const src = makeSide(RunState.RUNNING);
const dst = makeSide(RunState.INMIGRATE);
const source = new MigrationSource({ registry: src.registry, runState: src.runState, blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
const destination = new MigrationDestination({ registry: dst.registry, runState: dst.runState });

/** CPU milliseconds (user + system) of this process since `c0`. */
function cpuMs(c0) {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

function checkLoaded() {
  const last = SECTIONS - 1;
  if (!dst.devices[last].loaded.equals(src.devices[last].state)) throw new Error('state not restored');
  for (const d of dst.devices) d.loaded.fill(0);
}

/** The framework: the source's migrate and the destination's load, in memory. */
async function frameworkRoundTrip(sendVmdesc = false) {
  src.runState.setState(RunState.RUNNING);
  dst.runState.setState(RunState.INMIGRATE);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const channel = new MemoryWriteChannel();
  await source.migrate(new QemuFileWriter(channel), { maxBandwidth: 0, sendVmdesc });
  const bytes = channel.bytes();
  await destination.load(new QemuFileReader(new MemoryReadChannel(bytes)), { machine: MACHINE });
  const ms = performance.now() - t0;
  const cpu = cpuMs(c0);
  checkLoaded();
  return { ms, cpu, bytes };
}

// QEMU's framing, by hand (docs/design/stream-format.md).
const MAGIC = 0x5145564d;
const VERSION = 3;
const EOF = 0x00;
const FULL = 0x04;
const CONFIGURATION = 0x07;
const FOOTER = 0x7e;
const SECTION_FIXED = 1 + 4 + 1 + 4 + 4 + STATE_BYTES + 1 + 4;

/** Writes every device's FULL section after the header, as the source does. */
function referenceSave(devices) {
  let size = 4 + 4 + 1 + 4 + MACHINE.length + 1;
  for (const d of devices) size += SECTION_FIXED + d.idstr.length;
  const b = Buffer.allocUnsafe(size);
  let o = b.writeUInt32BE(MAGIC, 0);
  o = b.writeUInt32BE(VERSION, o);
  b[o++] = CONFIGURATION;
  o = b.writeUInt32BE(MACHINE.length, o);
  o += b.write(MACHINE, o, 'latin1');
  for (let id = 0; id < devices.length; id++) {
    const d = devices[id];
    b[o++] = FULL;
    o = b.writeUInt32BE(id, o);
    b[o++] = d.idstr.length;
    o += b.write(d.idstr, o, 'latin1');
    o = b.writeUInt32BE(0, o); // instance id
    o = b.writeUInt32BE(1, o); // version
    o += d.state.copy(b, o);
    b[o++] = FOOTER;
    o = b.writeUInt32BE(id, o);
  }
  b[o++] = EOF;
  return b;
}

/** Parses those bytes back into the devices found by idstr, checking what the destination checks. */
function referenceLoad(b, byIdstr) {
  if (b.readUInt32BE(0) !== MAGIC || b.readUInt32BE(4) !== VERSION) throw new Error('bad header');
  let o = 8;
  if (b[o++] !== CONFIGURATION) throw new Error('no configuration section');
  const machineLength = b.readUInt32BE(o);
  o += 4;
  if (b.toString('latin1', o, o + machineLength) !== MACHINE) throw new Error('machine type differs');
  o += machineLength;
  for (;;) {
    const type = b[o++];
    if (type === EOF) return;
    if (type !== FULL) throw new Error(`section type ${type}`);
    const id = b.readUInt32BE(o);
    const len = b[o + 4];
    const idstr = b.toString('latin1', o + 5, o + 5 + len);
    o += 5 + len;
    const instance = b.readUInt32BE(o);
    const version = b.readUInt32BE(o + 4);
    o += 8;
    const d = byIdstr.get(idstr);
    if (d === undefined || instance !== 0 || version > 1) throw new Error(`unknown section ${idstr} ${instance} v${version}`);
    b.copy(d.loaded, 0, o, o + STATE_BYTES);
    o += STATE_BYTES;
    if (b[o] !== FOOTER || b.readUInt32BE(o + 1) !== id) throw new Error(`bad footer of section ${id}`);
    o += 5;
  }
}

const byIdstr = new Map(dst.devices.map((d) => [d.idstr, d]));

function referenceRoundTrip() {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const bytes = referenceSave(src.devices);
  referenceLoad(bytes, byIdstr);
  const ms = performance.now() - t0;
  const cpu = cpuMs(c0);
  checkLoaded();
  return { ms, cpu, bytes };
}

// The same bytes on both sides, or the comparison means nothing.
const framework = (await frameworkRoundTrip()).bytes;
const reference = referenceRoundTrip().bytes;
if (!reference.equals(framework)) throw new Error(`the reference writes other bytes (${reference.length} vs ${framework.length})`);

for (let i = 0; i < 5; i++) {
  await frameworkRoundTrip();
  referenceRoundTrip();
}
const fw = [];
const ref = [];
const withVmdesc = [];
for (let i = 0; i < RUNS; i++) {
  fw.push(await frameworkRoundTrip());
  ref.push(referenceRoundTrip());
  withVmdesc.push(await frameworkRoundTrip(true));
}
const wall = (runs) => median(runs.map((r) => r.ms));
const cpu = (runs) => median(runs.map((r) => r.cpu));
const us = (ms) => ((ms * 1000) / SECTIONS).toFixed(3);
const perSecond = (ms) => Math.round((SECTIONS * 1000) / ms);
log(
  `core.sections-10k: ${framework.length} bytes; framework ${us(wall(fw))} us/section, hand-written ${us(wall(ref))} us/section` +
    ` (×${(wall(fw) / wall(ref)).toFixed(1)}); CPU ${us(cpu(fw))} and ${us(cpu(ref))} (×${(cpu(fw) / cpu(ref)).toFixed(1)});` +
    ` with the vmdesc ${us(wall(withVmdesc))} us/section`,
);
process.stdout.write(
  `${JSON.stringify(result('core.sections-10k', 'sections/s', perSecond(wall(fw)), { name: 'hand-written Buffer framing of the same bytes', value: perSecond(wall(ref)) }))}\n`,
);
