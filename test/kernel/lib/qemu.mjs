// qemu.mjs — boots the lane's kernel + initramfs under qemu-system-x86_64 (TCG, no KVM) with a
// hard timeout, capturing the serial console (ttyS0) and the result port (ttyS1) to files.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/**
 * Boots and waits. Returns { exitCode, signal, timedOut, ms }. `onLine` gets console lines
 * (for live output). The QEMU process is killed (by its pid) when the timeout expires.
 */
export function bootGuest({ kernel, initrd, append, consoleLog, resultsLog, timeoutMs, memoryMb = 1024, onLine }) {
  const args = [
    '-machine', 'pc',
    '-accel', 'tcg',
    '-m', String(memoryMb),
    '-nographic',
    '-no-reboot',
    '-serial', 'stdio',
    '-serial', `file:${resultsLog}`,
    '-monitor', 'none',
    '-kernel', kernel,
    '-initrd', initrd,
    '-append', append,
  ];
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const log = createWriteStream(consoleLog);
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    let pending = '';
    const feed = (chunk) => {
      log.write(chunk);
      if (!onLine) return;
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) onLine(line.replace(/\r$/, ''));
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (pending && onLine) onLine(pending);
      log.end(() => resolve({ exitCode, signal, timedOut, ms: Date.now() - started, args }));
    });
  });
}
