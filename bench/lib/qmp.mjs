// A minimal QMP client for the benchmarks that drive QEMU (not a benchmark itself): connect to
// a unix socket, negotiate, execute commands, and wait for events. Events are stamped with
// the monotonic clock when they arrive, so a benchmark can time "command sent → event".
import * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { now } from './common.mjs';

export class Qmp {
  #socket;
  #buffer = '';
  #replies = [];
  #waiters = [];
  #events = [];
  #eventWaiters = [];
  #closed = false;

  constructor(socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      this.#buffer += chunk;
      for (let nl = this.#buffer.indexOf('\n'); nl >= 0; nl = this.#buffer.indexOf('\n')) {
        const line = this.#buffer.slice(0, nl).trim();
        this.#buffer = this.#buffer.slice(nl + 1);
        if (line) this.#message(JSON.parse(line), now());
      }
    });
    socket.on('close', () => {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) w.reject(new Error('QMP socket closed'));
      for (const w of this.#eventWaiters.splice(0)) w.reject(new Error('QMP socket closed'));
    });
    socket.on('error', () => undefined);
  }

  /** Connects to `path` (retrying while QEMU starts), reads the greeting, sends qmp_capabilities. */
  static async connect(path, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise((resolve, reject) => {
          const s = net.createConnection(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const qmp = new Qmp(socket);
        await qmp.#nextReply(); // the greeting
        await qmp.execute('qmp_capabilities');
        return qmp;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(20);
      }
    }
  }

  #message(msg, at) {
    if ('event' in msg) {
      const event = { ...msg, receivedAt: at };
      const i = this.#eventWaiters.findIndex((w) => w.match(event));
      if (i >= 0) this.#eventWaiters.splice(i, 1)[0].resolve(event);
      else this.#events.push(event);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(msg);
    else this.#replies.push(msg);
  }

  #nextReply() {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closed) return Promise.reject(new Error('QMP socket closed'));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Sends a command; resolves with its `return`, rejects with its `error`. */
  async execute(command, args) {
    this.#socket.write(`${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`);
    const reply = await this.#nextReply();
    if (reply.error) throw new Error(`QMP ${command}: ${reply.error.class}: ${reply.error.desc}`);
    return reply.return;
  }

  /** The first event (already received or still to come) for which `match(event)` is true. */
  waitForEvent(match, timeoutMs = 120_000) {
    const i = this.#events.findIndex(match);
    if (i >= 0) return Promise.resolve(this.#events.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve, reject };
      this.#eventWaiters.push(waiter);
      setTimeout(() => {
        const j = this.#eventWaiters.indexOf(waiter);
        if (j >= 0) {
          this.#eventWaiters.splice(j, 1);
          reject(new Error(`no matching QMP event within ${timeoutMs} ms`));
        }
      }, timeoutMs).unref();
    });
  }

  close() {
    this.#socket.destroy();
  }
}

/** A MIGRATION event whose status is one of `statuses`. */
export function migrationStatusIs(...statuses) {
  return (event) => event.event === 'MIGRATION' && statuses.includes(event.data?.status);
}
