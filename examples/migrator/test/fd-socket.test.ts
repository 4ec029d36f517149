/**
 * `fd:N` where N is an inherited socket: the stream and QEMU's return path share it, as on
 * `tcp:` — so the source completes only after the destination's SHUT 0, and a destination
 * that refuses the state fails the source.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../bin/savevm.js');

/** Two connected TCP sockets on loopback. */
async function connectedPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const a = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(a, 'connect');
  const [b] = await accepted;
  server.close();
  return [a, b];
}

/** Runs `savevm ARGS` with `socket` as its fd 3; resolves with the exit code and the JSON lines. */
function savevmWithFd3(args: readonly string[], socket: net.Socket): Promise<{ code: number; lines: Array<Record<string, unknown>>; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe', socket] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      const lines = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code: code ?? -1, lines, stderr: err });
    });
  });
}

describe('fd: over an inherited socket', () => {
  it('carries the return path: the source connects with it and completes', async () => {
    const [a, b] = await connectedPair();
    const device = ['--device', 'emulated:gpu0,size=256K,seed=5'];
    const [dst, src] = await Promise.all([savevmWithFd3(['incoming', 'fd:3', ...device], b), savevmWithFd3(['migrate', 'fd:3', ...device], a)]);
    a.destroy();
    b.destroy();
    expect(dst.code, dst.stderr).toBe(0);
    expect(src.code, src.stderr).toBe(0);
    expect(src.lines.find((l) => l.event === 'connected')).toMatchObject({ returnPath: true });
  });

  it('a destination that refuses the state fails the source, whose devices run again', async () => {
    const [a, b] = await connectedPair();
    const [dst, src] = await Promise.all([
      savevmWithFd3(['incoming', 'fd:3', '--device', 'emulated:gpu0,size=128K,seed=5'], b),
      savevmWithFd3(['migrate', 'fd:3', '--device', 'emulated:gpu0,size=256K,seed=5'], a),
    ]);
    a.destroy();
    b.destroy();
    expect(dst.code).toBe(1);
    expect(src.code).toBe(1);
    expect(src.stderr).toMatch(/DESTINATION_FAILED|destination failed to load the state/);
    const summary = src.lines.find((l) => l.event === 'summary') as { devices: Array<{ deviceState: string; intact: boolean }> };
    for (const d of summary.devices) {
      expect(d.deviceState).toBe('RUNNING');
      expect(d.intact).toBe(true);
    }
  });
});
