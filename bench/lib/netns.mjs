// Two "hosts" for the multifd benchmarks (not a benchmark itself): two network namespaces
// joined by a veth pair, as test/two-hosts/network-namespaces.ts builds them (destination
// 10.201.N.1, source 10.201.N.2), plus a cap on EACH TCP flow the source sends.
//
// The cap: this kernel has no `fq` qdisc (whose maxrate caps each flow), so the source's end
// of the link gets an `htb` root qdisc with one class per source port, each `rate` = `ceil` =
// the cap, and one `u32` filter per class matching that TCP source port. The source's
// namespace hands out only those ports (net.ipv4.ip_local_port_range, a per-namespace
// sysctl), so every connection it opens — the main stream and each multifd channel — lands
// in a class of its own and is capped on its own; nothing shares a class. Anything else
// (ARP, the other direction's ACKs) goes to an uncapped default class. The destination
// listens on a fresh port for every migration, so a port the source reuses never collides
// with a connection still in TIME_WAIT (tcp_tw_reuse is on as well).
//
// Cleanup: `remove()` deletes both namespaces (which deletes the veth pair and its qdiscs);
// it runs on process exit, SIGTERM and SIGINT too, and `sweepStale()` removes what a killed
// run left (namespaces named svb-*-PID whose PID is gone).
import { execFileSync, spawnSync } from 'node:child_process';

const PREFIX = 'svb';
/** First port of the source's ephemeral range; the range has `flows` ports, each with its class. */
const PORT_BASE = 41000;

function run(cmd, args) {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Whether this machine can make namespaces and shape traffic (root with iproute2). */
export function canMakeNamespaces() {
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root' };
  for (const [cmd, args] of [['ip', ['netns', 'list']], ['tc', ['-V']]]) {
    const probe = spawnSync(cmd, args);
    if (probe.error || probe.status !== 0) return { ok: false, why: `${cmd} unavailable: ${probe.error?.message ?? probe.stderr.toString()}` };
  }
  return { ok: true, why: '' };
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Deletes the namespaces (and so the links) of benchmark runs whose process is gone. */
export function sweepStale() {
  const list = spawnSync('ip', ['netns', 'list']).stdout?.toString() ?? '';
  for (const line of list.split('\n')) {
    const m = new RegExp(`^(${PREFIX}-[ds]-(\\d+))\\b`).exec(line);
    if (m && !alive(Number(m[2]))) spawnSync('ip', ['netns', 'delete', m[1]]);
  }
}

/**
 * Creates the two namespaces and the link; with `flowMbit`, caps each TCP flow from the
 * source at that many Mbit/s (up to `flows` concurrent connections, default 16).
 */
export function makeTwoHosts({ flowMbit, flows = 16 } = {}) {
  sweepStale();
  const pid = process.pid;
  const subnet = 1 + (pid % 250);
  const destinationNs = `${PREFIX}-d-${pid}`;
  const sourceNs = `${PREFIX}-s-${pid}`;
  const destinationLink = `svbd${pid}`;
  const sourceLink = `svbs${pid}`;
  const destinationAddress = `10.201.${subnet}.1`;
  const sourceAddress = `10.201.${subnet}.2`;
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    for (const ns of [destinationNs, sourceNs]) spawnSync('ip', ['netns', 'delete', ns]);
    spawnSync('ip', ['link', 'delete', destinationLink]);
  };
  // process.exit runs the other 'exit' handlers too (bench/lib/multifd-run.mjs kills the peers).
  const onSignal = (signal) => {
    remove();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', remove);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    run('ip', ['netns', 'add', destinationNs]);
    run('ip', ['netns', 'add', sourceNs]);
    run('ip', ['link', 'add', destinationLink, 'type', 'veth', 'peer', 'name', sourceLink]);
    run('ip', ['link', 'set', destinationLink, 'netns', destinationNs]);
    run('ip', ['link', 'set', sourceLink, 'netns', sourceNs]);
    run('ip', ['-n', destinationNs, 'addr', 'add', `${destinationAddress}/24`, 'dev', destinationLink]);
    run('ip', ['-n', sourceNs, 'addr', 'add', `${sourceAddress}/24`, 'dev', sourceLink]);
    for (const [ns, link] of [
      [destinationNs, destinationLink],
      [sourceNs, sourceLink],
    ]) {
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      run('ip', ['-n', ns, 'link', 'set', link, 'up']);
    }
    if (flowMbit !== undefined) capEachFlow(sourceNs, sourceLink, flowMbit, flows);
  } catch (err) {
    remove();
    throw err;
  }
  return {
    destinationNs,
    sourceNs,
    destinationAddress,
    sourceAddress,
    sourceLink,
    /** The command line that runs `argv` inside namespace `ns`. */
    inNamespace: (ns, argv) => ['ip', ['netns', 'exec', ns, ...argv]],
    /** Bytes each capped class sent so far, by source port (only classes that sent something). */
    classBytes: () => classBytes(sourceNs, sourceLink),
    remove,
  };
}

function capEachFlow(ns, link, mbit, flows) {
  const sysctl = (kv) => run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', kv]);
  sysctl(`net.ipv4.ip_local_port_range=${PORT_BASE} ${PORT_BASE + flows - 1}`);
  sysctl('net.ipv4.tcp_tw_reuse=1');
  const tc = (...args) => run('tc', ['-n', ns, ...args]);
  tc('qdisc', 'add', 'dev', link, 'root', 'handle', '1:', 'htb', 'default', 'ffff');
  tc('class', 'add', 'dev', link, 'parent', '1:', 'classid', '1:ffff', 'htb', 'rate', '100gbit');
  for (let i = 0; i < flows; i++) {
    const classid = `1:${(0x10 + i).toString(16)}`;
    // burst/cburst of 64 KiB: a whole GSO segment fits, so the class paces smoothly.
    tc('class', 'add', 'dev', link, 'parent', '1:', 'classid', classid, 'htb', 'rate', `${mbit}mbit`, 'ceil', `${mbit}mbit`, 'burst', '64k', 'cburst', '64k');
    tc('filter', 'add', 'dev', link, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'protocol', '6', '0xff', 'match', 'ip', 'sport', String(PORT_BASE + i), '0xffff', 'flowid', classid);
  }
}

function classBytes(ns, link) {
  const out = execFileSync('tc', ['-n', ns, '-s', 'class', 'show', 'dev', link]).toString();
  const bytes = new Map();
  for (const m of out.matchAll(/class htb 1:([0-9a-f]+) [^\n]*\n\s*Sent (\d+) bytes/g)) {
    const id = Number.parseInt(m[1], 16);
    if (id !== 0xffff && Number(m[2]) > 0) bytes.set(PORT_BASE + id - 0x10, Number(m[2]));
  }
  return bytes;
}
