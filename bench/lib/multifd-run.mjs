// Runs the multifd benchmarks' migrations between two processes (not a benchmark itself):
// a destination (`multifd-peer.mjs destination`) listening on tcp:, a source
// (`multifd-peer.mjs source`) migrating to it; with `hosts` (bench/lib/netns.mjs) each runs
// in its own network namespace through `ip netns exec`, else both on loopback. The peers
// live for the whole benchmark (their memory is prepared once) and run one migration per
// request; each arm's migrations alternate with the other's.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { log, median, result } from './common.mjs';

const libDir = path.dirname(fileURLToPath(import.meta.url));
const peerScript = path.join(libDir, 'multifd-peer.mjs');
const children = new Set();

/** Kills every peer still running (on failure, timeout, exit). */
export function killPeers() {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}
process.once('exit', killPeers);

/** Starts one peer; `next(predicate)` resolves its next message that matches (rejects on {error} or exit). */
function peer(role, config, ns) {
  // MULTIFD_PEER_NODE_ARGS: extra node options for the peers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env.MULTIFD_PEER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const argv = [process.execPath, '--expose-gc', ...extra, peerScript, role];
  const [cmd, args] = ns === undefined ? [argv[0], argv.slice(1)] : ['ip', ['netns', 'exec', ns, ...argv]];
  const child = spawn(cmd, args, {
    env: { ...process.env, MULTIFD_PEER: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  const inbox = [];
  let waiter;
  let ended;
  const deliver = () => {
    if (!waiter) return;
    const i = inbox.findIndex(waiter.match);
    if (i >= 0) {
      const w = waiter;
      waiter = undefined;
      w.resolve(inbox.splice(i, 1)[0]);
    } else if (ended) {
      const w = waiter;
      waiter = undefined;
      w.reject(ended);
    }
  };
  child.on('message', (m) => {
    if (m.error) ended = new Error(`${role}: ${m.error}`);
    else inbox.push(m);
    deliver();
  });
  child.once('error', (err) => {
    ended = err;
    deliver();
  });
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      ended ??= new Error(`${role} exited with ${signal ?? code}`);
      deliver();
      resolve();
    }),
  );
  return {
    send: (m) => child.send(m),
    next: (key) =>
      new Promise((resolve, reject) => {
        if (ended && !inbox.some((m) => key in m)) return reject(ended);
        waiter = { match: (m) => key in m, resolve: (m) => resolve(m[key]), reject };
        deliver();
      }),
    /** Asks the peer to exit (so --cpu-prof writes its profile), SIGKILL after 10 s. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        child.send({ exit: true });
      } catch {
        // the channel is gone already
      }
      let timer;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
      clearTimeout(timer);
      child.kill('SIGKILL');
    },
  };
}

/** Starts both peers with `bytes` of `kind` ('device' | 'ram'); resolves once both have their memory ready. */
export async function startPeers({ hosts, kind, bytes }) {
  const dst = peer('destination', { kind, bytes }, hosts?.destinationNs);
  const src = peer('source', { kind, bytes }, hosts?.sourceNs);
  await Promise.all([dst.next('ready'), src.next('ready')]);
  const listenUri = hosts === undefined ? 'tcp:127.0.0.1:0' : `tcp:${hosts.destinationAddress}:0`;
  return {
    /**
     * One migration with `channels` multifd channels (0: no multifd). Returns the source's
     * time and per-channel bytes and both sides' page faults and CPU seconds; throws unless
     * the destination's digest equals the source's.
     */
    async migrate(channels) {
      dst.send({ incoming: { uri: listenUri, channels } });
      const uri = await dst.next('listening');
      src.send({ migrate: { uri, channels } });
      const [s, d] = await Promise.all([src.next('migrated'), dst.next('loaded')]);
      if (s.digest !== d.digest) throw new Error(`the destination's state differs from the source's (${d.digest} ≠ ${s.digest})`);
      const perChannel = (s.info.multifdChannels ?? []).map((c) => c.bytes);
      // The device's stop-copy state must have gone on the channels (QEMU 10.0's way), not the main stream.
      if (kind === 'device' && channels > 0 && perChannel.reduce((a, b) => a + b, 0) < bytes) {
        throw new Error(`only ${perChannel.reduce((a, b) => a + b, 0)} bytes went on the multifd channels, less than the device's ${bytes}`);
      }
      return {
        seconds: s.seconds,
        perChannel,
        maxQueuedBytes: d.maxQueuedBytes,
        stopCopyBytes: s.stopCopyBytes,
        faults: { source: s.faults, destination: d.faults },
        cpu: { source: s.cpu, destination: d.cpu },
      };
    },
    /** Stops both peers (see `peer().stop`). */
    async stop() {
      await Promise.all([dst.stop(), src.stop()]);
    },
  };
}

const MB = 1e6;

/**
 * The benchmark: `runs` migrations with `channels` and as many with `refChannels`,
 * alternating, logged to stderr; first one untimed warm-up migration of each arm when
 * `warmup` is 'both', of the `channels` arm only when 'first' (the peers' first migration
 * pays for JIT compilation and first touches, and it would always fall on that arm).
 * Returns the result object with the medians in MB/s (payload bytes ÷ seconds).
 */
export async function compareChannels({ name, peers, bytes, runs, channels, refChannels, warmup, describe }) {
  const arms = [
    { label: `${channels} channels`, channels, mbps: [] },
    { label: refChannels === 0 ? 'no multifd' : `${refChannels} channel${refChannels === 1 ? '' : 's'}`, channels: refChannels, mbps: [] },
  ];
  for (const arm of warmup === 'both' ? arms : warmup === 'first' ? arms.slice(0, 1) : []) {
    const r = await peers.migrate(arm.channels);
    log(`  ${arm.label.padEnd(12)} ${(bytes / r.seconds / MB).toFixed(1).padStart(7)} MB/s  ${r.seconds.toFixed(2)} s  (untimed warm-up)`);
  }
  for (let i = 0; i < runs; i++) {
    for (const arm of arms) {
      const r = await peers.migrate(arm.channels);
      const mbps = bytes / r.seconds / MB;
      arm.mbps.push(mbps);
      log(
        `  ${arm.label.padEnd(12)} ${mbps.toFixed(1).padStart(7)} MB/s  ${r.seconds.toFixed(2)} s  per channel MiB [${r.perChannel.map((b) => (b / 2 ** 20).toFixed(0)).join(' ')}]` +
          `  CPU s src ${r.cpu.source.toFixed(2)} dst ${r.cpu.destination.toFixed(2)}  faults src ${r.faults.source} dst ${r.faults.destination}` +
          (r.maxQueuedBytes === undefined ? '' : `  dst queue peak ${(r.maxQueuedBytes / 2 ** 20).toFixed(0)} MiB`) +
          (r.stopCopyBytes === undefined ? '' : `  stop-copy ${(r.stopCopyBytes / 2 ** 20).toFixed(1)} MiB`),
      );
    }
  }
  const [value, reference] = arms.map((a) => Number(median(a.mbps).toFixed(1)));
  const out = result(name, 'MB/s', value, { name: `${arms[1].label}: ${describe}`, value: reference });
  log(`  ${name}: ${value} MB/s vs ${reference} MB/s, ratio ${out.ratio.toFixed(2)}`);
  return out;
}
