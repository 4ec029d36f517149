/**
 * QEMU 7.2 in a live migration over TCP, driven through QMP: switching the return path on,
 * listening for an incoming migration on a port the system picks, and waiting for
 * `query-migrate` to reach a terminal status.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { QemuProcess } from './qemu-process.js';
import { type QmpValue, withTimeout } from './qmp-client.js';

/** What `query-migrate` said at the end of a migration. */
export interface QemuMigrationEnd {
  /** `completed`, `failed` or `cancelled`. */
  readonly status: string;
  /** QEMU's `error-desc`, when it gave one. */
  readonly errorDesc: string | undefined;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

function field(v: QmpValue | undefined, key: string): QmpValue | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v[key] : undefined;
}

/** Sets QEMU's `return-path` migration capability (QMP `migrate-set-capabilities`). */
export async function setReturnPath(q: QemuProcess, on: boolean, timeoutMs = 5000): Promise<void> {
  const qmp = await q.qmp(timeoutMs);
  await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'return-path', state: on }] }, timeoutMs);
}

/**
 * Makes a QEMU started with `-incoming defer` listen on `tcp:127.0.0.1:0` (QMP
 * `migrate-incoming`) and returns the URI with the port it got (`query-migrate`'s
 * `socket-address`).
 */
export async function listenForMigration(q: QemuProcess, timeoutMs = 5000): Promise<string> {
  const qmp = await q.qmp(timeoutMs);
  await qmp.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0' }, timeoutMs);
  const info = await qmp.execute('query-migrate', undefined, timeoutMs);
  const addresses = field(info, 'socket-address');
  const first = Array.isArray(addresses) ? addresses[0] : undefined;
  const port = field(first, 'port');
  if (typeof port !== 'string' || !/^[1-9]\d*$/.test(port)) {
    throw new Error(`query-migrate named no listening port: ${JSON.stringify(info)}`);
  }
  return `tcp:127.0.0.1:${port}`;
}

/** `query-migrate`'s `status` now (`setup`, `active`, `completed`, …). */
export async function migrationStatus(q: QemuProcess, timeoutMs = 5000): Promise<string> {
  const info = await (await q.qmp(timeoutMs)).execute('query-migrate', undefined, timeoutMs);
  const status = field(info, 'status');
  if (typeof status !== 'string') throw new Error(`query-migrate: no status in ${JSON.stringify(info)}`);
  return status;
}

/** Polls `query-migrate` until its status is terminal (`completed`, `failed`, `cancelled`). */
export async function awaitMigrationEnd(q: QemuProcess, timeoutMs = 10_000): Promise<QemuMigrationEnd> {
  const poll = async (): Promise<QemuMigrationEnd> => {
    const qmp = await q.qmp(timeoutMs);
    for (;;) {
      const info = await qmp.execute('query-migrate', undefined, timeoutMs);
      const status = field(info, 'status');
      if (typeof status === 'string' && TERMINAL.has(status)) {
        const desc = field(info, 'error-desc');
        return { status, errorDesc: typeof desc === 'string' ? desc : undefined };
      }
      await sleep(10);
    }
  };
  return withTimeout(poll(), timeoutMs, () => `QEMU's migration to end (stderr: ${q.stderr})`);
}
