// One side of the multifd benchmarks' migrations (not a benchmark itself): a long-lived
// process with an IPC channel (inside a network namespace through `ip netns exec` for the
// capped benchmarks) that runs one migration per request, so the memory is prepared once:
//   node bench/lib/multifd-peer.mjs source|destination
// The configuration comes in the environment as MULTIFD_PEER (JSON): { kind: 'device' | 'ram', bytes }.
//
// kind 'device': one emulated VFIO v2 device (@savevm/vfio's EmulatedVfioKernel, as the
// example migrator's `emulated:NAME,size=…` devices and @savevm/vfio-v2's test VMs build
// them), STOP_COPY only (no pre-copy), whose state is `bytes` long; it is attached through the
// session's providers (`vfioV2ContainerModule()`), so @savevm/vfio-v2's handlers migrate it:
// with QEMU 10.0's stream and multifd channels (`multifdTransfer` 'auto') the stop-copy state
// goes on the channels at switchover, one device-state packet per 1 MiB read of the data_fd,
// and the destination writes the buffers into its data_fd in index order from the load work
// SWITCHOVER_START starts. The device (kernel and model) lives for the whole benchmark; each
// migration opens it again (a fresh VfioDevice handle, closed afterwards) in a fresh session.
// kind 'ram': @savevm/ram's GuestRam with one block, registerRam, a paused VM (one pass).
//
// Requests and answers (process.send):
//   destination: {incoming: {uri, channels}} → {listening: uri}, then {loaded: {digest,
//     maxQueuedBytes, faults, cpu}}. The memory — the device model's state bytes, or the RAM
//     block — is resident and refilled with garbage (0x5a) before each migration, so what is
//     checked (SHA-256 after the load) is what came; the device's peak of queued multifd
//     buffers (bytes) comes back as maxQueuedBytes.
//   source: {migrate: {uri, channels}} → {migrated: {seconds, info, digest, stopCopyBytes,
//     faults, cpu}}: a fresh session over the fixed content (AES-128-CTR of zeros; for RAM
//     every fourth page zero, as bench/ram-1gib.mjs; its SHA-256 taken once, before anything
//     is timed), then `session.migrate(uri)` with QEMU 10.0's stream (device state on the
//     channels), no bandwidth limit, channels 0 = no multifd. `seconds` runs from the call to
//     its resolution, which with the return path (on) comes after the destination's SHUT:
//     everything loaded. device: the VM runs (`runState.start()`, which also takes the device
//     back to RUNNING from the STOP the previous migration left it in), its state is
//     stop-copy only (it all moves at switchover, on the channels); ram: the VM is paused.
//   Either side answers {error} when a migration fails.
//
// Like the example migrator's bin/savevm.js, each peer starts with retainFreedHeapMemory()
// (docs/design/multifd.md, "Memory on the bulk path"): it is a process that exists to migrate.
import { createCipheriv, createHash } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import * as fs from 'node:fs';
import { createMigrationSession } from '@savevm/session';
import { GuestRam, registerRam } from '@savevm/ram';
import { MigState, VfioMigrationFlags, openVfioDevice, retainFreedHeapMemory } from '@savevm/vfio';
import { EmulatedVfioKernel } from '@savevm/vfio/emulated';
import { vfioV2ContainerModule } from '@savevm/vfio-v2';

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

/** Fills `into` with the fixed source content. */
function fillContent(into, zeroEvery) {
  const bytes = into.byteLength;
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 0x42), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(1 << 20);
  for (let at = 0; at < bytes; at += zeros.length) {
    const part = cipher.update(zeros);
    into.set(part.subarray(0, Math.min(part.length, bytes - at)), at);
  }
  if (zeroEvery) for (let at = 0; at < bytes; at += zeroEvery * PAGE) into.fill(0, at, Math.min(bytes, at + PAGE));
  return into;
}

function digest(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The device's name: its section is `0000:00:03.0/vfio`, as QEMU's `<qdev path>/vfio`. */
const DEVICE_NAME = '0000:00:03.0';

/**
 * The benchmark's memory: for 'device' an emulated kernel with one VFIO v2 device (STOP_COPY
 * only, state `bytes` long), whose model's state bytes are the memory; for 'ram' a buffer.
 */
function prepare() {
  if (config.kind !== 'device') return { memory: Buffer.allocUnsafeSlow(config.bytes) };
  const kernel = new EmulatedVfioKernel();
  const node = kernel.addDevice({ name: DEVICE_NAME, protocol: 'v2', migrationFlags: VfioMigrationFlags.STOP_COPY, stateSize: config.bytes, seed: 1 });
  return { memory: node.model.stateBytes, kernel, node };
}

/** A fresh session with the benchmark's device (opened again) or RAM over `side.memory`. */
async function vm(side) {
  if (config.kind !== 'device') {
    const session = await createMigrationSession();
    const ram = new GuestRam();
    ram.addBlock('pc.ram', side.memory);
    registerRam(session.registry, ram);
    return { session, close: () => undefined };
  }
  const session = await createMigrationSession({ providers: [vfioV2ContainerModule()] });
  const vfio = openVfioDevice(side.node, { syscalls: side.kernel, via: 'cdev' });
  let attached;
  try {
    attached = await session.attach(vfio, DEVICE_NAME);
  } catch (err) {
    vfio.close();
    throw err;
  }
  if (attached.provider.name !== 'vfio-v2') throw new Error(`the device was taken by ${attached.provider.name}, not vfio-v2`);
  const migration = attached.provider.created?.get(vfio);
  return {
    session,
    migration,
    close: () => {
      attached.detach();
      vfio.close();
    },
  };
}

function multifd(channels) {
  return channels > 0 ? { multifdChannels: channels } : {};
}

/**
 * The device's whole state moves at switchover (stop-copy only), and nothing moves before it
 * to measure the link by, so with the default parameters the switchover threshold stays at
 * the assumed 128 MiB/s × the 300 ms downtime limit ≈ 40 MB and a 1 GiB device never
 * converges, as in QEMU. As a QEMU user would, the source sets `avail-switchover-bandwidth`
 * (here 100 GB/s, so the threshold exceeds any BENCH_BYTES): it switches over at the first
 * decision, 100 ms in (when the first measuring window closes), in both arms alike.
 */
function switchover() {
  return config.kind === 'device' ? { availSwitchoverBandwidth: 100e9 } : {};
}

/** The info as plain data (what crosses the IPC channel). */
function plain(info) {
  return JSON.parse(JSON.stringify(info));
}

/**
 * Watches the destination device's multifd loader while a load runs (it exists from
 * loadSetup to loadCleanup); `peak()` is its queue's most bytes held at once.
 */
function watchQueue(migration) {
  let loader;
  const timer = setInterval(() => {
    loader ??= migration?.loader.multifd;
  }, 5);
  return {
    peak() {
      clearInterval(timer);
      return loader?.queue.peakQueuedBytes;
    },
  };
}

async function destination(side, { uri, channels }) {
  side.memory.fill(0x5a);
  const { session, migration, close } = await vm(side);
  try {
    const incoming = session.incoming(uri, { ...multifd(channels), connectTimeoutMs: 60_000 });
    const endpoint = await incoming.listening;
    globalThis.gc?.();
    const faults = minorFaults();
    const cpu0 = process.cpuUsage();
    const queue = watchQueue(migration);
    process.send({ listening: endpoint.uri });
    try {
      await incoming;
    } finally {
      queue.peak();
    }
    const faultsDuring = minorFaults() - faults;
    const cpu = cpuSeconds(cpu0);
    if (side.node !== undefined && side.node.model.migState === MigState.RESUMING) throw new Error('the device is still RESUMING after the load');
    process.send({ loaded: { digest: digest(side.memory), maxQueuedBytes: queue.peak(), faults: faultsDuring, cpu } });
  } finally {
    close();
  }
}

async function source(side, expected, { uri, channels }) {
  const { session, migration, close } = await vm(side);
  try {
    if (config.kind === 'device') await session.runState.start();
    globalThis.gc?.();
    const faults = minorFaults();
    const cpu0 = process.cpuUsage();
    const t0 = now();
    const info = await session.migrate(uri, { ...multifd(channels), ...switchover(), streamCompat: 'qemu-10.0', maxBandwidth: 0 });
    const seconds = now() - t0;
    const faultsDuring = minorFaults() - faults;
    const cpu = cpuSeconds(cpu0);
    if (info.status !== 'completed') throw new Error(`migration ended ${info.status}`);
    const stopCopyBytes = migration?.saver.stats.stopCopyBytes;
    process.send({ migrated: { seconds, info: plain(info), digest: expected, stopCopyBytes, faults: faultsDuring, cpu } });
  } finally {
    close();
  }
}

function fail(err) {
  process.send?.({ error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
}

if (role !== 'source' && role !== 'destination') throw new Error(`unknown role ${role}`);
if (process.env.MULTIFD_PEER_MALLOC_DEFAULTS === undefined && !retainFreedHeapMemory()) process.stderr.write('multifd peer: malloc kept its defaults\n');
// MULTIFD_PEER_TRACE=1: every core and VFIO trace event on stderr (debugging, not for timing).
if (process.env.MULTIFD_PEER_TRACE) {
  const { TracePoint } = await import('@savevm/core');
  const { VfioTracePoint } = await import('@savevm/vfio-v2');
  const t0 = now();
  for (const name of [...Object.values(TracePoint), ...Object.values(VfioTracePoint)]) {
    subscribe(name, (payload) => process.stderr.write(`[${role} ${(now() - t0).toFixed(3)}] ${name} ${JSON.stringify(payload, (_k, v) => (typeof v === 'bigint' ? String(v) : v))?.slice(0, 200)}\n`));
  }
}
const side = prepare();
if (role === 'source') fillContent(side.memory, config.kind === 'ram' ? 4 : 0);
else side.memory.fill(0x5a);
const expected = role === 'source' ? digest(side.memory) : undefined;
process.on('message', (m) => {
  if (m.incoming) destination(side, m.incoming).catch(fail);
  else if (m.migrate) source(side, expected, m.migrate).catch(fail);
  else if (m.exit) process.disconnect();
});
process.send({ ready: true });
