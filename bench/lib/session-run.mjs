// Runs migrations between two processes over a slow link, for the session benchmarks (not a
// benchmark itself): a destination process (`session-peer.mjs destination`) listens on a unix
// socket, a relay process (`slow-link.mjs`) reads from the source at a fixed rate and forwards
// to it, and a source process (`session-peer.mjs source`) migrates into the relay.
import { fork, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const libDir = path.dirname(fileURLToPath(import.meta.url));

/** A scratch directory for the sockets, removed by `cleanup()` (and on SIGTERM/SIGINT). */
export function scratchDir(tag) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `savevm-bench-${tag}-`));
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, () => {
      cleanup();
      process.exit(1);
    });
  }
  return { dir, cleanup };
}

/** Starts the relay: `listen` → at most `bytesPerSec` → `target`. Resolves once it listens. */
export async function startSlowLink(listen, target, bytesPerSec) {
  const child = spawn(process.execPath, [path.join(libDir, 'slow-link.mjs'), listen, target, String(bytesPerSec)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`slow-link exited with ${code}`)));
    child.stdout.once('data', resolve);
  });
  return { stop: () => child.kill('SIGTERM') };
}

/** Forks a peer; resolves the messages it sent once it exits (rejects on an error message or a bad exit). */
function peer(role, config, onMessage) {
  const child = fork(path.join(libDir, 'session-peer.mjs'), [role], {
    execArgv: ['--expose-gc'],
    env: { ...process.env, SESSION_PEER: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages = [];
  const done = new Promise((resolve, reject) => {
    child.on('message', (m) => {
      if (m.error) reject(new Error(`${role}: ${m.error}`));
      messages.push(m);
      onMessage?.(m);
    });
    child.once('exit', (code, signal) => (code === 0 ? resolve(messages) : reject(new Error(`${role} exited with ${signal ?? code}`))));
  });
  return { child, done };
}

/**
 * One migration: destination listening on `dst.sock`, source migrating to `link.sock` (the
 * relay in front of it, already running). Returns the source's and the destination's results.
 */
export async function migrateOnce(dir, { size, pageSize, dirtyBytesPerSec = 0, queueCap = 'default', params = {} }) {
  const dstSock = path.join(dir, 'dst.sock');
  fs.rmSync(dstSock, { force: true });
  let listening;
  const ready = new Promise((resolve) => (listening = resolve));
  const dst = peer('destination', { uri: `unix:${dstSock}`, size, pageSize }, (m) => m.listening && listening());
  await Promise.race([ready, dst.done]);
  const src = peer('source', { uri: `unix:${path.join(dir, 'link.sock')}`, size, pageSize, dirtyBytesPerSec, queueCap, params });
  const [srcMessages, dstMessages] = await Promise.all([src.done, dst.done]);
  const s = srcMessages.find((m) => m.info);
  const d = dstMessages.find((m) => m.info);
  if (!s || !d) throw new Error('a peer sent no result');
  if (s.digest !== d.digest) throw new Error(`the destination's state differs from the source's (${d.digest} ≠ ${s.digest})`);
  return { source: s, destination: d };
}
