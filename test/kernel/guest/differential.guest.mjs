// differential.guest.mjs — the emulated kernel device of @savevm/vfio against the real kernel
// (Linux 6.12 mtty). The same scenarios run on both, driven through the same VfioDevice
// interface and raw syscalls; each step's outcome (errno, resulting state, whether an fd came
// back, what a data-fd operation answered) becomes one transcript line, and the transcripts
// must be identical. Byte counts are not compared where the two stream formats differ (mtty
// sends a 24-byte header in pre-copy, the emulated device its own image); only the outcome
// class (data / zero / errno) is. Scenarios: every (state, target) pair of the v2 FSM from each
// state mtty can reach (ERROR is unreachable on mtty) to every state 0..7 plus 8 and 0xffffffff,
// and the data-file misuses. Differences fail the tests and are listed in a report; scenarios
// marked informational document a kernel quirk and are listed without failing.
import assert from 'node:assert/strict';
import {
  LibcSyscalls,
  MigState,
  PrecopyInfo,
  VfioIoctl,
  VfioSyscallError,
  errnoName,
  migStateName,
  openVfioDevice,
} from '@savevm/vfio';
import { createEmulatedDevice } from '@savevm/vfio/emulated';

export const timeoutMs = 60_000;

/** The emulated device set up like mtty-2: flags 0x7, 0 at the pre-copy temporary end, 96-byte MIG_DATA_SIZE. */
export const EMULATED_CONFIG = { migrationFlags: 0x7, preCopyEmptyRead: 'zero', stateSize: 48, pageSize: 4096 };

const { STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P } = MigState;

// ---- the two backends ------------------------------------------------------------------------

function kernelBackend(t) {
  const sys = new LibcSyscalls();
  const open = () => {
    const mdev = t.createMdev('mtty-2');
    const dev = openVfioDevice({ mdevUuid: mdev.uuid }, { via: 'group' });
    t.defer(() => dev.close());
    return dev;
  };
  const dst = open();
  const src = open();
  return { label: 'kernel', dst, src, sysOf: () => sys };
}

function emulatedBackend(t) {
  const a = createEmulatedDevice(EMULATED_CONFIG, { via: 'group' });
  const b = createEmulatedDevice(EMULATED_CONFIG, { via: 'group' });
  t.defer(() => a.device.close());
  t.defer(() => b.device.close());
  const sys = new Map([[a.device, a.kernel], [b.device, b.kernel]]);
  return { label: 'emulated', dst: a.device, src: b.device, sysOf: (dev) => sys.get(dev) };
}

// ---- observations ------------------------------------------------------------------------------

const stateName = (s) => migStateName(s);
const rawClass = (r, length) => (r < 0 ? errnoName(-r) : r === 0 ? 'zero' : length !== undefined && r !== length ? `short` : 'data');

/** One scenario run: a transcript of outcome lines, and the data files to close afterwards. */
class Run {
  constructor(backend) {
    this.b = backend;
    this.lines = [];
    this.files = [];
  }
  note(line) {
    this.lines.push(line);
  }
  /** SET MIG_DEVICE_STATE on `dev` (default dst); notes errno/fd and the state GET reports after. */
  set(target, dev = this.b.dst, label = 'SET') {
    let outcome;
    let file;
    try {
      file = dev.setState(target).dataFile;
      outcome = file ? `OK fd=${file.direction}` : 'OK fd=none';
      if (file) this.files.push(file);
    } catch (error) {
      if (!(error instanceof VfioSyscallError)) throw error;
      outcome = error.errno;
    }
    this.note(`${label} ${stateName(target)}: ${outcome} -> ${stateName(dev.getState())}`);
    return file;
  }
  sys(dev = this.b.dst) {
    return this.b.sysOf(dev);
  }
  async read(file, what = 'read', size = 4096) {
    const r = await this.sys().read(file.fd, new Uint8Array(size));
    this.note(`${what}: ${rawClass(r)}`);
    return r;
  }
  /** Reads until 0 or an error; notes the final outcome and whether any data came. */
  async readToEnd(file, what = 'read to end', dev = this.b.dst) {
    const chunks = [];
    let r;
    for (let i = 0; i < 1000; i++) {
      const buf = new Uint8Array(4096);
      r = await this.sys(dev).read(file.fd, buf);
      if (r <= 0) break;
      chunks.push(Buffer.from(buf.subarray(0, r)));
    }
    if (what) this.note(`${what}: ${chunks.length > 0 ? 'data then ' : ''}${rawClass(r)}`);
    return Buffer.concat(chunks);
  }
  async write(file, bytes, what = 'write') {
    const r = await this.sys().write(file.fd, bytes);
    this.note(`${what} (${bytes.length === 1 ? '1 byte' : 'n bytes'}): ${rawClass(r, bytes.length)}`);
    return r;
  }
  pread(file, what = 'pread') {
    this.note(`${what}: ${rawClass(this.sys().pread(file.fd, new Uint8Array(16), 0))}`);
  }
  pwrite(file, what = 'pwrite') {
    this.note(`${what}: ${rawClass(this.sys().pwrite(file.fd, new Uint8Array(1), 0))}`);
  }
  precopyInfo(file, what = 'PRECOPY_INFO', argsz = PrecopyInfo.size) {
    const buf = PrecopyInfo.encode({ argsz, flags: 0, initial_bytes: 0n, dirty_bytes: 0n });
    const r = this.sys().ioctl(file.fd, VfioIoctl.MIG_GET_PRECOPY_INFO, buf);
    this.note(`${what}: ${r < 0 ? errnoName(-r) : 'OK'}`);
  }
  ioctl(file, request, what) {
    const r = this.sys().ioctl(file.fd, request, new Uint8Array(64));
    this.note(`${what}: ${r < 0 ? errnoName(-r) : 'OK'}`);
  }
  /** A complete valid stream of the backend's source device (for the resume scenarios). */
  async validStream() {
    const src = this.b.src;
    src.setState(STOP);
    const file = src.setState(STOP_COPY).dataFile;
    const bytes = await this.readToEnd(file, '', src);
    src.setState(STOP);
    file.close();
    src.reset();
    if (bytes.length === 0) throw new Error(`${this.b.label}: the source produced an empty stream`);
    return bytes;
  }
  /** Closes the scenario's files and resets the device (RUNNING, every session ended). */
  finish() {
    for (const f of this.files) f.close();
    this.b.dst.reset();
    assert.equal(this.b.dst.getState(), RUNNING, `${this.b.label}: reset leaves RUNNING`);
  }
}

// ---- scenarios ----------------------------------------------------------------------------------

/** How each starting state is reached from RUNNING (one SET per step). */
const SETUP = new Map([
  [STOP, [STOP]],
  [RUNNING, []],
  [STOP_COPY, [STOP, STOP_COPY]],
  [RESUMING, [STOP, RESUMING]],
  [RUNNING_P2P, [RUNNING_P2P]],
  [PRE_COPY, [PRE_COPY]],
  [PRE_COPY_P2P, [RUNNING_P2P, PRE_COPY_P2P]],
]);
const TARGETS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 0xffffffff];

function fsmScenarios() {
  const list = [];
  for (const [from, path] of SETUP) {
    for (const target of TARGETS) {
      list.push({
        name: `${stateName(from)} -> ${stateName(target)}`,
        async run(r) {
          let setupFile;
          for (const step of path) setupFile = r.set(step, undefined, 'setup') ?? setupFile;
          const file = r.set(target);
          if (file) {
            if (file.direction === 'saving') await r.read(file, 'new fd read');
            else await r.write(file, new Uint8Array(1), 'new fd write');
          }
          if (setupFile && setupFile !== file) {
            if (setupFile.direction === 'saving') await r.read(setupFile, 'setup fd read');
            else await r.write(setupFile, new Uint8Array(1), 'setup fd write');
          }
          r.note(`MIG_DATA_SIZE: ${r.b.dst.getStopCopySize() === 96 ? '96' : r.b.dst.getStopCopySize()}`);
        },
      });
    }
  }
  return list;
}

const DATA_FILE_SCENARIOS = [
  {
    name: 'positioned read on a saving fd (STOP_COPY) -> ESPIPE',
    async run(r) {
      r.set(STOP);
      const f = r.set(STOP_COPY);
      r.pread(f);
      await r.readToEnd(f);
    },
  },
  {
    name: 'positioned read on a saving fd (PRE_COPY) -> ESPIPE',
    async run(r) {
      r.pread(r.set(PRE_COPY));
    },
  },
  {
    name: 'positioned write on a resuming fd -> ESPIPE',
    extra: true,
    async run(r) {
      r.pwrite(r.set(RESUMING));
    },
  },
  {
    name: 'write on a saving fd (STOP_COPY) -> EBADF',
    async run(r) {
      r.set(STOP);
      const f = r.set(STOP_COPY);
      await r.write(f, new Uint8Array(1));
      await r.readToEnd(f);
    },
  },
  {
    name: 'write on a saving fd (PRE_COPY) -> EBADF',
    async run(r) {
      await r.write(r.set(PRE_COPY), new Uint8Array(1));
    },
  },
  {
    name: 'read on a resuming fd -> EBADF',
    extra: true,
    async run(r) {
      await r.read(r.set(RESUMING));
    },
  },
  {
    name: 'read after STOP_COPY -> STOP -> ENODEV',
    async run(r) {
      r.set(STOP);
      const f = r.set(STOP_COPY);
      await r.readToEnd(f);
      await r.read(f, 'read at end again');
      r.set(STOP);
      await r.read(f, 'read after the session');
    },
  },
  {
    name: 'read after PRE_COPY -> RUNNING -> ENODEV',
    async run(r) {
      const f = r.set(PRE_COPY);
      await r.readToEnd(f, 'read to the temporary end');
      r.set(RUNNING);
      await r.read(f, 'read after the session');
    },
  },
  {
    name: 'read after VFIO_DEVICE_RESET in STOP_COPY -> ENODEV',
    async run(r) {
      r.set(STOP);
      const f = r.set(STOP_COPY);
      r.b.dst.reset();
      r.note(`reset -> ${stateName(r.b.dst.getState())}`);
      await r.read(f, 'read after reset');
    },
  },
  {
    name: 'write after VFIO_DEVICE_RESET in RESUMING -> ENODEV',
    extra: true,
    async run(r) {
      const f = r.set(RESUMING);
      r.b.dst.reset();
      r.note(`reset -> ${stateName(r.b.dst.getState())}`);
      await r.write(f, new Uint8Array(1), 'write after reset');
    },
  },
  {
    name: 'write on a saving fd after its session ended',
    extra: true,
    async run(r) {
      r.set(STOP);
      const f = r.set(STOP_COPY);
      r.set(STOP);
      await r.write(f, new Uint8Array(1), 'write on the ended saving fd');
    },
  },
  {
    name: 'PRE_COPY temporary end, PRE_COPY_P2P -> STOP_COPY continues on the old fd',
    extra: true,
    async run(r) {
      const f = r.set(PRE_COPY);
      r.precopyInfo(f);
      await r.readToEnd(f, 'read to the temporary end');
      await r.read(f, 'read at the temporary end again');
      r.set(PRE_COPY_P2P);
      r.set(STOP_COPY);
      await r.readToEnd(f, 'read the rest on the old fd');
      r.set(STOP);
      await r.read(f, 'read after the session');
    },
  },
  {
    name: 'write past the state size in one write -> ENOMEM, then the stream',
    async run(r) {
      const stream = await r.validStream();
      const f = r.set(RESUMING);
      await r.write(f, Buffer.concat([stream, Buffer.alloc(1)]), 'write the stream + 1 byte');
      await r.write(f, stream, 'write the stream');
      r.set(STOP);
    },
  },
  {
    name: 'write past the state size after the stream -> ENOMEM, then RESUMING -> STOP',
    async run(r) {
      const stream = await r.validStream();
      const f = r.set(RESUMING);
      await r.write(f, stream, 'write the stream');
      await r.write(f, new Uint8Array(1), 'write 1 more byte');
      r.set(STOP);
    },
  },
  {
    name: 'wrong-size state: nothing written, RESUMING -> STOP -> EINVAL stays RESUMING',
    async run(r) {
      r.set(RESUMING);
      r.set(STOP);
      r.set(RUNNING);
    },
  },
  {
    name: 'wrong-size state: half the stream, RESUMING -> STOP -> EINVAL, then the rest',
    async run(r) {
      const stream = await r.validStream();
      const f = r.set(RESUMING);
      const half = Math.floor(stream.length / 2);
      await r.write(f, stream.subarray(0, half), 'write half');
      r.set(STOP);
      r.set(RUNNING);
      await r.write(f, stream.subarray(half), 'write the rest');
      r.set(STOP);
    },
  },
  {
    name: 'wrong-size state: all but the last byte, RESUMING -> STOP -> EINVAL',
    async run(r) {
      const stream = await r.validStream();
      const f = r.set(RESUMING);
      await r.write(f, stream.subarray(0, stream.length - 1), 'write all but 1 byte');
      r.set(STOP);
      r.set(STOP_COPY);
    },
  },
  {
    name: 'bad stream header (first byte flipped) -> EFAULT, then RESUMING -> STOP',
    extra: true,
    async run(r) {
      const stream = Buffer.from(await r.validStream());
      stream[0] ^= 0xff;
      const f = r.set(RESUMING);
      await r.write(f, stream.subarray(0, 24), 'write a bad 24-byte header');
      r.set(STOP);
    },
  },
  {
    name: 'bad stream header in a full-size write, then RESUMING -> STOP',
    extra: true,
    informational: 'mtty accepts the bytes of a write it answers EFAULT, so a full-size stream with a bad header loads on RESUMING->STOP',
    async run(r) {
      const stream = Buffer.from(await r.validStream());
      stream[0] ^= 0xff;
      const f = r.set(RESUMING);
      await r.write(f, stream, 'write the whole stream with a bad header');
      r.set(STOP);
    },
  },
  {
    name: 'PRECOPY_INFO: in PRE_COPY, short argsz, after STOP_COPY, on stale fds, on other fds',
    extra: true,
    async run(r) {
      const f = r.set(PRE_COPY);
      r.precopyInfo(f, 'PRECOPY_INFO in PRE_COPY');
      r.precopyInfo(f, 'PRECOPY_INFO argsz=8', 8);
      r.ioctl(f, 0x3b7f, 'unknown ioctl on the data fd');
      r.set(PRE_COPY_P2P);
      r.precopyInfo(f, 'PRECOPY_INFO in PRE_COPY_P2P');
      r.set(RUNNING);
      r.precopyInfo(f, 'PRECOPY_INFO on the stale fd, device RUNNING');
      const g = r.set(PRE_COPY);
      r.precopyInfo(f, 'PRECOPY_INFO on the stale fd, device in a new PRE_COPY');
      r.precopyInfo(g, 'PRECOPY_INFO on the new fd');
      r.set(STOP_COPY);
      r.precopyInfo(g, 'PRECOPY_INFO in STOP_COPY');
      r.set(STOP);
      const h = r.set(STOP_COPY);
      r.precopyInfo(h, 'PRECOPY_INFO on a STOP->STOP_COPY fd');
      r.set(STOP);
      const w = r.set(RESUMING);
      r.precopyInfo(w, 'PRECOPY_INFO on a resuming fd');
    },
  },
];

// ---- running and comparing ------------------------------------------------------------------------

async function transcript(backend, scenario) {
  const run = new Run(backend);
  try {
    await scenario.run(run);
  } catch (error) {
    run.note(`THREW ${error.message}`);
  } finally {
    try {
      run.finish();
    } catch (error) {
      run.note(`CLEANUP THREW ${error.message}`);
    }
  }
  return run.lines;
}

/** Runs the scenarios on both backends; returns the differences (and reports them). */
async function compare(t, title, scenarios) {
  const kernel = kernelBackend(t);
  const emulated = emulatedBackend(t);
  const differences = [];
  const informational = [];
  const full = [];
  for (const scenario of scenarios) {
    const k = await transcript(kernel, scenario);
    const e = await transcript(emulated, scenario);
    full.push(`${scenario.name}:`, ...k.map((l) => `    ${l}`));
    if (k.join('\n') === e.join('\n')) continue;
    const lines = [`${scenario.name}${scenario.informational ? ` [informational: ${scenario.informational}]` : ''}`];
    for (let i = 0; i < Math.max(k.length, e.length); i++) {
      const mark = k[i] === e[i] ? '   ' : ' ! ';
      lines.push(`${mark} kernel:   ${k[i] ?? '(nothing)'}`);
      if (k[i] !== e[i]) lines.push(`${mark} emulated: ${e[i] ?? '(nothing)'}`);
    }
    (scenario.informational ? informational : differences).push(lines);
  }
  t.report(`${title}: kernel transcript (${scenarios.length} scenarios)`, full, { console: false });
  if (differences.length > 0) {
    t.report(`${title}: ${differences.length} of ${scenarios.length} scenarios differ (emulated vs kernel)`, differences.flat());
  }
  if (informational.length > 0) {
    t.report(`${title}: informational differences (kernel quirks, not failures)`, informational.flat());
  }
  t.log(`${scenarios.length} scenarios, ${differences.length} differ, ${informational.length} informational`);
  return differences;
}

export async function fsmMatchesKernel(t) {
  const scenarios = fsmScenarios();
  const differences = await compare(t, 'v2 FSM (state, target) pairs', scenarios);
  assert.equal(differences.length, 0, `${differences.length} of ${scenarios.length} FSM scenarios differ: ${differences.map((d) => d[0]).join('; ')}`);
}

/** The misuses the issue lists: positioned read, write on a saving file, read after the session, write past the state size, wrong-size state. */
export async function dataFileMisuseMatchesKernel(t) {
  const scenarios = DATA_FILE_SCENARIOS.filter((s) => !s.extra);
  const differences = await compare(t, 'data-file misuse', scenarios);
  assert.equal(differences.length, 0, `${differences.length} of ${scenarios.length} data-file scenarios differ: ${differences.map((d) => d[0]).join('; ')}`);
}

/** More data-file edge cases: other fds and directions, PRECOPY_INFO, bad headers, reset, pre-copy end. */
export async function dataFileEdgeCasesMatchKernel(t) {
  const scenarios = DATA_FILE_SCENARIOS.filter((s) => s.extra);
  const differences = await compare(t, 'data-file edge cases', scenarios);
  assert.equal(differences.length, 0, `${differences.length} of ${scenarios.length} edge-case scenarios differ: ${differences.map((d) => d[0]).join('; ')}`);
}

export async function migrationFlagsMatchKernel(t) {
  const kernel = kernelBackend(t);
  const emulated = emulatedBackend(t);
  const k = { flags: kernel.dst.getMigrationFlags(), size: kernel.dst.getStopCopySize(), state: kernel.dst.getState() };
  const e = { flags: emulated.dst.getMigrationFlags(), size: emulated.dst.getStopCopySize(), state: emulated.dst.getState() };
  assert.deepEqual(e, k, 'GET MIGRATION, MIG_DATA_SIZE and the initial state agree');
}
