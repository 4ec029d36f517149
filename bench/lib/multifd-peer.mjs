// One side of the multifd benchmarks' migrations (not a benchmark itself): a long-lived
// process with an IPC channel (inside a network namespace through `ip netns exec` for the
// capped benchmarks) that runs one migration per request, so the memory is prepared once:
//   node bench/lib/multifd-peer.mjs source|destination
// The configuration comes in the environment as MULTIFD_PEER (JSON): { kind: 'device' | 'ram', bytes }.
// Requests and answers (process.send):
//   destination: {incoming: {uri, channels}} → {listening: uri}, then {loaded: {digest,
//     maxQueuedBuffers, faults, cpu}}. Every migration gets a fresh session over the same
//     memory — resident, refilled with garbage (0x5a) before each, so what is checked is
//     what came — holding the device (bench/lib/multifd-device.mjs) or one RAM block.
//   source: {migrate: {uri, channels}} → {migrated: {seconds, info, digest, faults, cpu}}:
//     a fresh session over the fixed content (AES-128-CTR of zeros; for RAM every fourth
//     page zero, as bench/ram-1gib.mjs; its SHA-256 taken once, before anything is timed),
//     then `session.migrate(uri)` with QEMU 10.0's stream (device state on the channels),
//     no bandwidth limit, channels 0 = no multifd. `seconds` runs from the call to its
//     resolution, which with the return path (on) comes after the destination's SHUT:
//     everything loaded. device: the VM runs, the device's state is stop-copy only (it all
//     moves at switchover, on the channels); ram: the VM is paused (one pass over RAM).
//   Either side answers {error} when a migration fails.
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createMigrationSession } from '@savevm/session';
import { GuestRam, registerRam } from '@savevm/ram';
import { ChannelStateDevice } from './multifd-device.mjs';

const PAGE = 4096;
const role = process.argv[2];
const config = JSON.parse(process.env.MULTIFD_PEER ?? '{}');

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** Minor page faults of this process so far (/proc/self/stat field 10). */
function minorFaults() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

/** CPU seconds (user + system) since `start` (a process.cpuUsage() value). */
function cpuSeconds(start) {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

/** The fixed source content. */
function content(bytes, zeroEvery) {
  const buf = Buffer.allocUnsafeSlow(bytes);
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 0x42), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(1 << 20);
  for (let at = 0; at < bytes; at += zeros.length) {
    const part = cipher.update(zeros);
    part.copy(buf, at, 0, Math.min(part.length, bytes - at));
  }
  if (zeroEvery) for (let at = 0; at < bytes; at += zeroEvery * PAGE) buf.fill(0, at, Math.min(bytes, at + PAGE));
  return buf;
}

function digest(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

/** A fresh session with the benchmark's device or RAM over `memory`. */
async function vm(memory) {
  const session = await createMigrationSession();
  let device;
  if (config.kind === 'device') {
    device = new ChannelStateDevice(memory);
    session.registry.register('0000:00:03.0/vfio', 0, 1, device);
  } else {
    const ram = new GuestRam();
    ram.addBlock('pc.ram', memory);
    registerRam(session.registry, ram);
  }
  return { session, device };
}

function multifd(channels) {
  return channels > 0 ? { multifdChannels: channels } : {};
}

/** The info as plain data (what crosses the IPC channel). */
function plain(info) {
  return JSON.parse(JSON.stringify(info));
}

async function destination(memory, { uri, channels }) {
  memory.fill(0x5a);
  const { session, device } = await vm(memory);
  const incoming = session.incoming(uri, { ...multifd(channels), connectTimeoutMs: 60_000 });
  const endpoint = await incoming.listening;
  globalThis.gc?.();
  const faults = minorFaults();
  const cpu0 = process.cpuUsage();
  process.send({ listening: endpoint.uri });
  await incoming;
  const faultsDuring = minorFaults() - faults;
  const cpu = cpuSeconds(cpu0);
  process.send({ loaded: { digest: digest(memory), maxQueuedBuffers: device?.maxQueued, faults: faultsDuring, cpu } });
}

async function source(memory, expected, { uri, channels }) {
  const { session } = await vm(memory);
  if (config.kind === 'device') await session.runState.start();
  globalThis.gc?.();
  const faults = minorFaults();
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const info = await session.migrate(uri, { ...multifd(channels), streamCompat: 'qemu-10.0', maxBandwidth: 0 });
  const seconds = now() - t0;
  const faultsDuring = minorFaults() - faults;
  const cpu = cpuSeconds(cpu0);
  if (info.status !== 'completed') throw new Error(`migration ended ${info.status}`);
  process.send({ migrated: { seconds, info: plain(info), digest: expected, faults: faultsDuring, cpu } });
}

function fail(err) {
  process.send?.({ error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
}

if (role !== 'source' && role !== 'destination') throw new Error(`unknown role ${role}`);
const memory = role === 'source' ? content(config.bytes, config.kind === 'ram' ? 4 : 0) : Buffer.allocUnsafeSlow(config.bytes).fill(0x5a);
const expected = role === 'source' ? digest(memory) : undefined;
process.on('message', (m) => {
  if (m.incoming) destination(memory, m.incoming).catch(fail);
  else if (m.migrate) source(memory, expected, m.migrate).catch(fail);
  else if (m.exit) process.disconnect();
});
process.send({ ready: true });
