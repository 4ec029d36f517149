/**
 * SHA-256 of guest RAM on a worker thread. The RAM lives in a `SharedArrayBuffer`, so the
 * worker reads it where it is (no copy) while the main thread goes on: the source hashes its
 * RAM while it sends the last sections, the destination while it rebuilds the expected
 * bytes. Both happen with the VM stopped, so this is downtime saved.
 */
import { Worker } from 'node:worker_threads';
import { sha256Hex } from '../devices/state-digest.js';

/** The worker's code (CommonJS, evaluated: it needs no file of its own next to the build). */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, buffer, offset, length }) => {
  const hex = createHash('sha256').update(new Uint8Array(buffer, offset, length)).digest('hex');
  parentPort.postMessage({ id, hex });
});
`;

/** What the worker answers. */
interface DigestReply {
  readonly id: number;
  readonly hex: string;
}

/** A promise's two ends. */
interface Pending {
  resolve(hex: string): void;
  reject(err: unknown): void;
}

/** One worker that hashes shared memory on request; started on first use. */
export class DigestThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  /**
   * SHA-256 (hex) of `bytes`, computed on the worker when they are shared memory, else here
   * (synchronously, before this returns).
   */
  digest(bytes: Uint8Array): Promise<string> {
    if (!(bytes.buffer instanceof SharedArrayBuffer)) return Promise.resolve(sha256Hex(bytes));
    const worker = this.start();
    const id = this.nextId++;
    const answer = new Promise<string>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    worker.ref(); // a request in flight keeps the process alive
    worker.postMessage({ id, buffer: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength });
    return answer;
  }

  /** Starts the worker now (it takes tens of milliseconds), so the first digest does not wait for it. */
  warmUp(): void {
    this.start();
  }

  /** Stops the worker; requests still in flight reject. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new Error('the digest thread was closed'));
    if (worker !== undefined) await worker.terminate();
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on('message', (reply: DigestReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      waiting?.resolve(reply.hex);
    });
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
      this.failAll(new Error('the digest thread exited'));
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private failAll(err: unknown): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(err);
  }
}
