/**
 * A minimal QMP client (QEMU Machine Protocol) over a unix socket: line-delimited JSON,
 * responses matched to commands by an `id`, asynchronous events collected, every wait
 * bounded by a timeout.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A JSON value as QMP sends it. */
export type QmpValue = null | boolean | number | string | QmpValue[] | { [key: string]: QmpValue };

/** An asynchronous QMP event (`{"event": ..., "data": ..., "timestamp": ...}`). */
export interface QmpEvent {
  /** Event name, e.g. `STOP`, `RESUME`, `MIGRATION`. */
  readonly event: string;
  /** Event payload, if any. */
  readonly data: QmpValue | undefined;
}

/** QEMU answered a command with `{"error": {...}}`. */
export class QmpCommandError extends Error {
  /** @param command the command; @param errorClass QMP's error class; @param desc its description */
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${desc}`);
    this.name = 'QmpCommandError';
  }
}

/** A QMP wait ran out of time, or the connection closed while a command was pending. */
export class QmpTimeoutError extends Error {
  /** @param what what was being waited for; @param ms the timeout */
  constructor(what: string, ms: number) {
    super(`QMP: timed out after ${ms} ms waiting for ${what}`);
    this.name = 'QmpTimeoutError';
  }
}

/** The QMP connection closed (QEMU exited) while a command was pending. */
export class QmpClosedError extends Error {
  /** @param what what was pending */
  constructor(what: string) {
    super(`QMP: connection closed while waiting for ${what}`);
    this.name = 'QmpClosedError';
  }
}

interface Pending {
  readonly command: string;
  readonly resolve: (v: QmpValue) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

function isObject(v: unknown): v is { [key: string]: QmpValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Runs `promise` against a deadline; the timer never outlives the race. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QmpTimeoutError(typeof what === 'string' ? what : what(), ms)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A connected, capability-negotiated QMP session. */
export class QmpClient {
  /** Every event received so far, in order. */
  readonly events: QmpEvent[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly eventWaiters = new Set<() => void>();
  private nextId = 1;
  private buffered = '';
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.onClose());
    socket.on('error', () => this.onClose());
  }

  /**
   * Connects to a QMP unix socket, retrying while it does not exist yet, reads the
   * greeting and negotiates capabilities. `isAlive` stops the retries once QEMU exited.
   */
  static async connect(path: string, timeoutMs: number, isAlive: () => boolean = () => true): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const socket = await tryConnect(path);
      if (socket) {
        const client = new QmpClient(socket);
        try {
          await client.handshake(Math.max(1, deadline - Date.now()));
          return client;
        } catch (err) {
          client.close();
          throw err;
        }
      }
      if (!isAlive()) throw new QmpClosedError('the QMP socket (QEMU exited)');
      if (Date.now() >= deadline) throw new QmpTimeoutError(`the QMP socket ${path}`, timeoutMs);
      await sleep(10);
    }
  }

  private greeted = false;
  private greetingWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;

  private async handshake(timeoutMs: number): Promise<void> {
    const greeted = new Promise<void>((resolve, reject) => {
      if (this.greeted) resolve();
      else if (this.closed) reject(new QmpClosedError('the QMP greeting'));
      else this.greetingWaiter = { resolve, reject };
    });
    await withTimeout(greeted, timeoutMs, 'the QMP greeting');
    await this.execute('qmp_capabilities', undefined, timeoutMs);
  }

  /** Whether the connection is gone. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends a command and resolves with its `return` value; rejects with QmpCommandError on `error`. */
  execute(command: string, args?: { [key: string]: QmpValue }, timeoutMs = 5000): Promise<QmpValue> {
    if (this.closed) return Promise.reject(new QmpClosedError(command));
    const id = this.nextId++;
    return new Promise<QmpValue>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeoutError(`the reply to ${command}`, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { command, resolve, reject, timer });
      const message = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Waits for an event named `name` (one already received counts). */
  async waitForEvent(name: string, timeoutMs: number): Promise<QmpEvent> {
    const found = (): QmpEvent | undefined => this.events.find((e) => e.event === name);
    const wait = new Promise<QmpEvent>((resolve, reject) => {
      const check = (): void => {
        const e = found();
        if (e) {
          this.eventWaiters.delete(check);
          resolve(e);
        } else if (this.closed) {
          this.eventWaiters.delete(check);
          reject(new QmpClosedError(`event ${name}`));
        }
      };
      this.eventWaiters.add(check);
      check();
    });
    return withTimeout(wait, timeoutMs, `event ${name}`);
  }

  /** Closes the connection; pending commands reject. */
  close(): void {
    this.socket.destroy();
    this.onClose();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (line) this.onMessage(JSON.parse(line) as unknown);
    }
  }

  private onMessage(msg: unknown): void {
    if (!isObject(msg)) return;
    if ('QMP' in msg) {
      this.greeted = true;
      this.greetingWaiter?.resolve();
      return;
    }
    if (typeof msg.event === 'string') {
      this.events.push({ event: msg.event, data: msg.data });
      for (const waiter of [...this.eventWaiters]) waiter();
      return;
    }
    const id = msg.id;
    if (typeof id !== 'number') return;
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    const error = msg.error;
    if (isObject(error)) {
      p.reject(new QmpCommandError(p.command, String(error.class), String(error.desc)));
    } else {
      p.resolve(msg.return ?? null);
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new QmpClosedError(`the reply to ${p.command}`));
    }
    this.pending.clear();
    this.greetingWaiter?.reject(new QmpClosedError('the QMP greeting'));
    for (const waiter of [...this.eventWaiters]) waiter();
  }
}

/** One connection attempt; undefined when the socket is not there or refuses. */
function tryConnect(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(undefined);
    });
  });
}
