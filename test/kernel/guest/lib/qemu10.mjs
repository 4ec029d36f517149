// qemu10.mjs — QEMU 10.0 inside the guest (TCG inside TCG) for qemu10-vfio.guest.mjs: the
// manifest the host wrote when it put QEMU 10.0 into the initramfs (test/kernel/lib/qemu10.mjs),
// a QMP client over QEMU's stdio (node spawns QEMU with pipes, so no unix-socket client is
// needed), and the stream surgery that moves VFIO section bodies between a QEMU stream and a
// savevm one. Design: docs/design/qemu-versions.md, "A VFIO device between QEMU 10.0 and savevm".
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { VfioTag } from '@savevm/vfio';

const MANIFEST = '/opt/qemu10/manifest.json';

/** The QEMU 10.0 in the initramfs ({ release, debianVersion, binary, firmwareDir, libDir }), or undefined. */
export function qemu10Manifest() {
  return existsSync(MANIFEST) ? JSON.parse(readFileSync(MANIFEST, 'utf8')) : undefined;
}

/** The trace points QEMU prints to stderr (VFIO migration, its state changes and dirty tracking). */
export const QEMU_TRACES = ['vfio_migration*', 'vfio_save_setup', 'vfio_save_complete_precopy', 'vfio_load_state', 'vfio_load_state_device_data', 'vfio_*dirty*', 'vfio_*config_state*'];

/** A QMP command failed, or QEMU exited or timed out: the message carries QEMU's stderr tail. */
export class QemuError extends Error {}

/**
 * One QEMU 10.0 process, driven through QMP on its stdio. `start` waits for the greeting and
 * negotiates capabilities; `close` (deferred on the test) quits it, or kills it by its pid.
 */
export class Qemu {
  /**
   * @param t the test (the process is ended through t.defer)
   * @param label names this QEMU in messages ("source", "destination")
   * @param args the machine's arguments (after the binary, firmware and QMP options)
   */
  constructor(t, label, args) {
    const m = qemu10Manifest();
    if (m === undefined) throw new QemuError('QEMU 10.0 is not in the initramfs');
    this.label = label;
    this.lines = [];
    this.stderr = '';
    this.waiters = [];
    this.startedAt = Date.now();
    this.args = ['-L', m.firmwareDir, '-qmp', 'stdio', '-msg', 'timestamp=on', ...QEMU_TRACES.flatMap((p) => ['-trace', p]), ...args];
    this.child = spawn(m.binary, this.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LD_LIBRARY_PATH: m.libDir },
    });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
        this.#wake();
      });
      this.child.on('error', (error) => {
        this.exit = { error };
        resolve(this.exit);
        this.#wake();
      });
    });
    let pending = '';
    this.child.stdout.on('data', (chunk) => {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop();
      for (const line of parts) {
        if (line.trim() === '') continue;
        try {
          this.lines.push(JSON.parse(line));
        } catch {
          this.lines.push({ unparsed: line });
        }
      }
      this.#wake();
    });
    this.child.stderr.on('data', (chunk) => {
      this.stderr += chunk.toString('utf8');
    });
    t.defer(() => this.close());
  }

  #wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The last `n` lines QEMU printed on stderr (warnings, errors, traces). */
  stderrTail(n = 25) {
    return this.stderr.trimEnd().split('\n').slice(-n);
  }

  #fail(what) {
    const exit = this.exit ? ` (QEMU exited: ${JSON.stringify(this.exit)})` : '';
    return new QemuError(`QEMU 10.0 ${this.label}: ${what}${exit}\n  qemu ${this.args.join(' ')}\n  stderr:\n    ${this.stderrTail().join('\n    ')}`);
  }

  /** Takes the first stdout message `match` accepts (events are kept for `events`). */
  async #take(match, what, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex(match);
      if (i >= 0) return this.lines.splice(i, 1)[0];
      if (this.exit) throw this.#fail(`exited while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw this.#fail(`no ${what} within ${timeoutMs} ms`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the QMP greeting and leaves negotiation mode. Returns the greeting's version. */
  async start(timeoutMs = 20_000) {
    const greeting = await this.#take((l) => 'QMP' in l, 'QMP greeting', timeoutMs);
    this.greetingMs = Date.now() - this.startedAt;
    await this.execute('qmp_capabilities');
    return greeting.QMP.version.qemu;
  }

  /** Runs a QMP command; returns its `return`, throws QemuError with its `error`. */
  async execute(command, args, timeoutMs = 20_000) {
    this.child.stdin.write(`${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`);
    const reply = await this.#take((l) => 'return' in l || 'error' in l, `reply to ${command}`, timeoutMs);
    if ('error' in reply) throw this.#fail(`${command} ${JSON.stringify(args ?? {})} → ${JSON.stringify(reply.error)}`);
    return reply.return;
  }

  /** Polls query-migrate until the status is `completed`; throws on failed/cancelled. Returns the last reply. */
  async migrationCompleted(timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.execute('query-migrate');
      if (info.status === 'completed') return info;
      if (info.status === 'failed' || info.status === 'cancelled') throw this.#fail(`migration ${info.status}: ${JSON.stringify(info)}`);
      if (Date.now() > deadline) throw this.#fail(`migration not completed within ${timeoutMs} ms: ${JSON.stringify(info)}`);
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
  }

  /** QMP `quit`, then waits for the exit (kills the process by its pid after 5 s). */
  async close() {
    if (this.exit) return this.exit;
    try {
      this.child.stdin.write(`${JSON.stringify({ execute: 'quit' })}\n`);
    } catch {}
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}

/** The common arguments: `-M pc -nodefaults -S`, 64 MiB, TCG with a small code buffer, the mdev as vfio-pci. */
export function machineArgs(mdev, extra = []) {
  return [
    '-M', 'pc', '-accel', 'tcg,tb-size=32', '-nodefaults', '-display', 'none', '-m', '64', '-S',
    '-device', `vfio-pci,sysfsdev=/sys/bus/mdev/devices/${mdev.uuid},id=mtty0`,
    ...extra,
  ];
}

/** The records of an inspection whose idstr is `idstr`, each with its raw extent { start, end } (up to the next record). */
export function sectionExtents(inspection, idstr) {
  const out = [];
  inspection.records.forEach((r, i) => {
    if (r.record.idstr !== idstr) return;
    const next = inspection.records[i + 1];
    out.push({ ...r, start: r.record.offset, end: next ? next.record.offset : undefined });
  });
  return out;
}

/**
 * A stream with only QEMU's header, configuration and the VFIO sections of `idstr`, then EOF:
 * what savevm's destination loads into its own device (the RAM and the other devices of QEMU's
 * machine have no handler there).
 */
export function vfioOnlyStream(bytes, inspection, idstr) {
  const buf = Buffer.from(bytes);
  const configIndex = inspection.records.findIndex((r) => r.record.type === 'configuration');
  const headEnd = inspection.records[configIndex + 1].record.offset;
  const parts = [buf.subarray(0, headEnd)];
  for (const s of sectionExtents(inspection, idstr)) parts.push(buf.subarray(s.start, s.end));
  parts.push(Buffer.from([0x00])); // QEMU_VM_EOF
  return Buffer.concat(parts);
}

function be64(value) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(value);
  return b;
}

/** The DEV_DATA_STATE blocks (tag, size and bytes) of one section body, as raw bytes. */
function dataBlocksOf(buf, s) {
  const blocks = [];
  for (let at = s.record.bodyOffset; at < s.record.bodyOffset + s.bodySize; ) {
    const tag = buf.readBigUInt64BE(at);
    if (tag === VfioTag.DEV_DATA_STATE) {
      const size = Number(buf.readBigUInt64BE(at + 8));
      blocks.push(buf.subarray(at, at + 16 + size));
      at += 16 + size;
    } else if (tag === VfioTag.DEV_SETUP_STATE) at += 8;
    else break;
  }
  return blocks;
}

/**
 * A copy of QEMU's stream whose VFIO section bodies (of `idstr`) are savevm's: START ← savevm's
 * START body, the first PART ← every DATA block of savevm's PARTs then END_OF_STATE, later PARTs
 * ← END_OF_STATE (what QEMU writes for a round with nothing new), END ← savevm's END body, FULL ←
 * savevm's FULL body. Everything else (RAM, the other devices, the vmdesc) is QEMU's, byte for
 * byte. Returns { bytes, replaced: ['start 16→16', …] }.
 */
export function spliceVfioBodies(qemuBytes, qemuInspection, savevmBytes, savevmInspection, idstr) {
  const q = Buffer.from(qemuBytes);
  const s = Buffer.from(savevmBytes);
  const ours = sectionExtents(savevmInspection, idstr);
  const bodyOf = (type) => {
    const found = ours.find((r) => r.record.type === type);
    if (!found) throw new Error(`savevm's stream has no ${type} section for ${idstr}`);
    return s.subarray(found.record.bodyOffset, found.record.bodyOffset + found.bodySize);
  };
  const preCopy = Buffer.concat([...ours.filter((r) => r.record.type === 'part').flatMap((r) => dataBlocksOf(s, r)), be64(VfioTag.END_OF_STATE)]);
  const parts = [];
  const replaced = [];
  let at = 0;
  let firstPart = true;
  for (const r of sectionExtents(qemuInspection, idstr)) {
    let body;
    if (r.record.type === 'part') {
      body = firstPart ? preCopy : be64(VfioTag.END_OF_STATE);
      firstPart = false;
    } else body = bodyOf(r.record.type);
    parts.push(q.subarray(at, r.record.bodyOffset), body);
    at = r.record.bodyOffset + r.bodySize;
    replaced.push(`${r.record.type} ${r.bodySize}→${body.length}`);
  }
  parts.push(q.subarray(at));
  return { bytes: Buffer.concat(parts), replaced };
}

/** mtty's struct serial_port (36 bytes, Linux 6.12): the UART registers and the loopback FIFO. */
export function decodeMttyPort(bytes) {
  const b = Buffer.from(bytes);
  const fifo = b.subarray(8, 24);
  const head = b[24];
  const tail = b[25];
  let text = '';
  for (let i = tail; i !== head; i = (i + 1) & 15) text += String.fromCharCode(fifo[i]);
  return { lcr: b[3], mcr: b[4], scr: b[7], fifo: text };
}
