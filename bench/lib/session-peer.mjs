// One side of a session benchmark's migration (not a benchmark itself), run as its own
// process with an IPC channel:  node --expose-gc bench/lib/session-peer.mjs source|destination
// The configuration comes in the environment as SESSION_PEER (JSON); results go back with
// process.send.
//
// destination: a session with one LiveDevice of the same geometry waits on `uri`
//   (`MigrationSession.incoming`), sends {listening}, then {info, digest} once loaded.
// source: a session with one LiveDevice (its state preallocated and resident), the VM
//   running; the peak-RSS counter is reset (/proc/self/clear_refs 5) and the RSS read just
//   before migrating; after the migration it sends {info, beforeStop (the remaining bytes and
//   threshold the switchover decision saw), baselineKiB, peakKiB, digest}.
//   queueCap 'default' migrates with `MigrationSession.migrate(uri)` (the writer's default
//   queue cap); a number or 'infinity' does the same steps by hand (openOutgoing, the return
//   path, MigrationSource.migrate) with a writer built with that cap.
import * as fs from 'node:fs';
import { createMigrationSession, openOutgoing, ReturnPathReader } from '@savevm/session';
import { QemuFileWriter } from '@savevm/stream';
import { LiveDevice } from './live-device.mjs';

const role = process.argv[2];
const config = JSON.parse(process.env.SESSION_PEER ?? '{}');

function statusKiB(field) {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/self/status`);
  return Number(m[1]);
}

/** The final info as plain data (what crosses the IPC channel). */
function plain(info) {
  return JSON.parse(JSON.stringify(info));
}

async function destination() {
  const session = await createMigrationSession();
  const device = new LiveDevice({ size: config.size, pageSize: config.pageSize, seed: 2 });
  session.registry.register('live0', 0, 1, device);
  const incoming = session.incoming(config.uri);
  const endpoint = await incoming.listening;
  process.send({ listening: endpoint.uri });
  const info = await incoming;
  process.send({ info: plain(info), digest: device.digest() });
}

async function migrateWithCap(session, uri, params, queueCap) {
  const transport = await openOutgoing(uri);
  const writer = new QemuFileWriter(transport.writer.channel, { queueCap });
  const returnPath = transport.returnPath ? new ReturnPathReader(transport.returnPath) : undefined;
  try {
    return await session.source.migrate(writer, { ...params, returnPath });
  } catch (err) {
    transport.shutdown();
    throw err;
  } finally {
    await transport.close().catch(() => undefined);
  }
}

async function source() {
  const session = await createMigrationSession();
  const device = new LiveDevice({ size: config.size, pageSize: config.pageSize, dirtyBytesPerSec: config.dirtyBytesPerSec ?? 0, seed: 2 });
  session.registry.register('live0', 0, 1, device);
  await session.runState.start();
  globalThis.gc?.();
  fs.writeFileSync('/proc/self/clear_refs', '5'); // peak RSS := current RSS
  const baselineKiB = statusKiB('VmRSS');
  const params = config.params ?? {};
  // The last progress before the VM stopped: what the switchover decision saw.
  let beforeStop;
  session.source.info$.subscribe((i) => {
    if (i.status === 'active') beforeStop = { remainingBytes: i.remainingBytes, thresholdBytes: i.thresholdBytes };
  });
  const info =
    config.queueCap === 'default'
      ? await session.migrate(config.uri, params)
      : await migrateWithCap(session, config.uri, params, config.queueCap === 'infinity' ? Infinity : Number(config.queueCap));
  const peakKiB = statusKiB('VmHWM');
  process.send({ info: plain(info), beforeStop, baselineKiB, peakKiB, digest: device.digest() });
}

try {
  if (role === 'destination') await destination();
  else if (role === 'source') await source();
  else throw new Error(`unknown role ${role}`);
  process.disconnect?.();
} catch (err) {
  process.send?.({ error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
  process.exitCode = 1;
  process.disconnect?.();
}
