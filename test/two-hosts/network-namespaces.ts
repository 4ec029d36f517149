/**
 * Two "hosts" on one machine: two network namespaces joined by a veth pair, with addresses
 * 10.200.N.1 (destination) and 10.200.N.2 (source). Names are unique per run; `remove()`
 * deletes both namespaces (which deletes the veth pair) and is safe to call twice.
 */
import { execFileSync, spawnSync } from 'node:child_process';

/** A pair of namespaces joined by a veth pair. */
export interface TwoHosts {
  /** Namespace of the destination. */
  readonly destinationNs: string;
  /** Namespace of the source. */
  readonly sourceNs: string;
  /** The destination's address. */
  readonly destinationAddress: string;
  /** The source's address. */
  readonly sourceAddress: string;
  /** The source's end of the link (to cut it). */
  readonly sourceLink: string;
  /** Takes the source's end of the link down. */
  cutLink(): void;
  /** Deletes everything. */
  remove(): void;
}

/** Whether this machine can make namespaces (root with iproute2). */
export function canMakeNamespaces(): { ok: boolean; why: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root' };
  const probe = spawnSync('ip', ['netns', 'list']);
  if (probe.error || probe.status !== 0) return { ok: false, why: `ip netns unavailable: ${probe.error?.message ?? probe.stderr.toString()}` };
  return { ok: true, why: '' };
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Creates the two namespaces and the link. */
export function makeTwoHosts(): TwoHosts {
  const id = `${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const subnet = 1 + ((process.pid + Math.floor(Math.random() * 250)) % 250);
  const destinationNs = `svm-d${id}`;
  const sourceNs = `svm-s${id}`;
  const destinationLink = `svd${id}`;
  const sourceLink = `svs${id}`;
  const destinationAddress = `10.200.${subnet}.1`;
  const sourceAddress = `10.200.${subnet}.2`;
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    for (const ns of [destinationNs, sourceNs]) spawnSync('ip', ['netns', 'delete', ns]);
    spawnSync('ip', ['link', 'delete', destinationLink]);
  };
  try {
    ip('netns', 'add', destinationNs);
    ip('netns', 'add', sourceNs);
    ip('link', 'add', destinationLink, 'type', 'veth', 'peer', 'name', sourceLink);
    ip('link', 'set', destinationLink, 'netns', destinationNs);
    ip('link', 'set', sourceLink, 'netns', sourceNs);
    ip('-n', destinationNs, 'addr', 'add', `${destinationAddress}/24`, 'dev', destinationLink);
    ip('-n', sourceNs, 'addr', 'add', `${sourceAddress}/24`, 'dev', sourceLink);
    for (const [ns, link] of [[destinationNs, destinationLink], [sourceNs, sourceLink]] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', link, 'up');
    }
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
    cutLink: () => ip('-n', sourceNs, 'link', 'set', sourceLink, 'down'),
    remove,
  };
}
