/**
 * `exec:CMD`: the stream goes through a shell command, as QEMU's exec migration does. The
 * source writes into the command's stdin; the destination reads the command's stdout. The
 * command's stderr (and, on the source, its stdout) go to this process's stderr.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { type ReadChannel, SocketChannel, type WriteChannel } from '@savevm/stream';
import { TransportError } from './transport-error.js';

/** How long `close()` waits for the command to exit before killing it, ms. */
const EXIT_GRACE_MS = 5000;

/** A channel on a child process started with `sh -c`. */
export class ExecChannel implements ReadChannel, WriteChannel {
  private readonly child: ChildProcess;
  private readonly pipe: SocketChannel;
  private readonly exited: Promise<TransportError | undefined>;
  private exitError: TransportError | undefined;
  private how: string | undefined;

  /**
   * Starts the command.
   * @param uri names the transport in errors
   * @param command the shell command
   * @param direction `write` (source: its stdin) or `read` (destination: its stdout)
   */
  constructor(
    private readonly uri: string,
    command: string,
    readonly direction: 'read' | 'write',
  ) {
    this.child = spawn('/bin/sh', ['-c', command], {
      stdio: direction === 'write' ? ['pipe', 2, 'inherit'] : ['ignore', 'pipe', 'inherit'],
    });
    const stream = direction === 'write' ? this.child.stdin : this.child.stdout;
    if (!stream) throw new TransportError({ uri, phase: 'exec', detail: 'the command has no pipe' });
    this.pipe = new SocketChannel(stream as unknown as Duplex /* a pipe is a net.Socket */);
    this.exited = new Promise((resolve) => {
      this.child.once('error', (cause) => {
        this.exitError = new TransportError({ uri, phase: 'exec', detail: `cannot run the command: ${cause.message}`, cause });
        resolve(this.exitError);
      });
      this.child.once('exit', (code, signal) => {
        if (code !== 0) {
          this.how ??= signal ? `was killed by ${signal}` : `exited with status ${code}`;
          this.exitError = new TransportError({ uri, phase: 'exec', detail: `the command ${this.how}`, code: 'EPIPE' });
        }
        resolve(this.exitError);
      });
    });
  }

  /** How the command failed (`exited with status 3`, `was killed by SIGKILL`), once it did. */
  get failure(): string | undefined {
    return this.how;
  }

  /** The command's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Reads the command's stdout; at its end, fails if the command failed. */
  async read(into: Uint8Array): Promise<number> {
    let n: number;
    try {
      n = await this.pipe.read(into);
    } catch (err) {
      throw this.exitError ?? err;
    }
    if (n === 0) {
      const failure = await this.exitedWithin(EXIT_GRACE_MS);
      if (failure) throw failure;
    }
    return n;
  }

  /** Writes into the command's stdin. */
  async writev(chunks: readonly Uint8Array[]): Promise<void> {
    if (this.exitError) throw this.exitError;
    try {
      await this.pipe.writev(chunks);
    } catch (err) {
      throw (await this.exitedWithin(200)) ?? err;
    }
  }

  /**
   * Closes the pipe and waits for the command to exit (killing it after a grace period).
   * @throws TransportError when the command failed
   */
  async close(): Promise<void> {
    await this.pipe.close();
    const failure = await this.exitedWithin(EXIT_GRACE_MS);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.how = `did not exit within ${EXIT_GRACE_MS / 1000} s and was killed`;
      this.child.kill('SIGKILL');
      await this.exited;
      throw new TransportError({ uri: this.uri, phase: 'exec', detail: `the command ${this.how}` });
    }
    if (failure) throw failure;
  }

  /** Ends the pipe and kills the command. */
  shutdown(): void {
    this.pipe.shutdown();
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }

  private exitedWithin(ms: number): Promise<TransportError | undefined> {
    return Promise.race([
      this.exited,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref()),
    ]);
  }
}
