import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Errno, FdDataFile, LibcSyscalls, MigState, VfioSyscallError, type DataFileOwner, type Syscalls } from '../src/index.js';

interface Koffi {
  load(p: string): { func(decl: string): (...args: unknown[]) => number };
}
const koffi = createRequire(import.meta.url)('koffi') as Koffi;
const pipe2 = koffi.load('libc.so.6').func('int pipe2(_Out_ int *fds, int flags)');

/** A pipe (O_CLOEXEC); [read end, write end]. */
function makePipe(): [number, number] {
  const fds = [0, 0];
  if (pipe2(fds, 0o2000000) !== 0) throw new Error('pipe2 failed');
  return [fds[0]!, fds[1]!];
}

const owner: DataFileOwner = { name: 'test-dev', lastKnownState: () => MigState.STOP_COPY, forget: () => undefined };
const open: number[] = [];
const files: string[] = [];
function track<T extends number>(fd: T): T {
  open.push(fd);
  return fd;
}
function tmpPath(): string {
  const p = path.join(os.tmpdir(), `savevm-data-splice-${process.pid}-${files.length}`);
  files.push(p);
  return p;
}
afterEach(() => {
  for (const fd of open.splice(0)) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed by the data file
    }
  }
  for (const p of files.splice(0)) fs.rmSync(p, { force: true });
});

describe('FdDataFile.spliceSource over a real pipe (LibcSyscalls: FIONREAD + splice through koffi)', () => {
  it('readyBytes says what the pipe holds; spliceTo moves exactly that into a file', () => {
    const [r, w] = makePipe();
    track(w);
    const file = new FdDataFile(new LibcSyscalls(), r, 'saving', owner);
    const src = file.spliceSource();
    expect(src).toBeDefined();
    const data = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 31) & 0xff));
    fs.writeSync(w, data);
    expect(src!.readyBytes()).toBe(50_000);
    const outPath = tmpPath();
    const out = track(fs.openSync(outPath, 'w'));
    fs.writeSync(out, Buffer.from('HEAD'));
    let moved = 0;
    while (moved < 50_000) {
      const n = src!.spliceTo(out, 50_000 - moved);
      expect(typeof n).toBe('number');
      moved += n as number;
    }
    expect(fs.readFileSync(outPath).equals(Buffer.concat([Buffer.from('HEAD'), data]))).toBe(true);
    expect(src!.readyBytes()).toBe(0);
    fs.closeSync(w);
    open.splice(open.indexOf(w), 1);
    expect(src!.readyBytes()).toBe(0); // ended: a plain read tells "end"
    file.close();
  });

  it('the plain read of the source reads the pipe; 0 at the end', async () => {
    const [r, w] = makePipe();
    const file = new FdDataFile(new LibcSyscalls(), r, 'saving', owner);
    fs.writeSync(w, Buffer.from('abc'));
    fs.closeSync(w);
    const into = Buffer.alloc(8);
    await expect(file.spliceSource()!.read(into)).resolves.toBe(3);
    expect(into.subarray(0, 3).toString()).toBe('abc');
    await expect(file.spliceSource()!.read(into)).resolves.toBe(0);
    file.close();
  });

  it('splice refused (EINVAL: an O_APPEND target): nothing moves, and the file stops offering the path', () => {
    const [r, w] = makePipe();
    track(w);
    const file = new FdDataFile(new LibcSyscalls(), r, 'saving', owner);
    const src = file.spliceSource()!;
    fs.writeSync(w, Buffer.alloc(4096, 1));
    const out = track(fs.openSync(tmpPath(), 'a'));
    expect(src.spliceTo(out, 4096)).toBe('unsupported');
    expect(file.spliceSource()).toBeUndefined();
    expect(src.readyBytes()).toBe('unsupported');
    file.close();
  });

  it('FIONREAD refused (ENOTTY on a character device, as a kernel data_fd may answer): unsupported, then not offered', () => {
    const fd = fs.openSync('/dev/zero', 'r');
    const file = new FdDataFile(new LibcSyscalls(), fd, 'saving', owner);
    expect(file.spliceSource()!.readyBytes()).toBe('unsupported');
    expect(file.spliceSource()).toBeUndefined();
    file.close();
  });

  it('not offered for a resuming file, a closed file, or a syscall layer without splice (the emulated kernel)', () => {
    const [r, w] = makePipe();
    track(r);
    const resuming = new FdDataFile(new LibcSyscalls(), w, 'resuming', owner);
    expect(resuming.spliceSource()).toBeUndefined();
    resuming.close();
    const [r2, w2] = makePipe();
    track(w2);
    const saving = new FdDataFile(new LibcSyscalls(), r2, 'saving', owner);
    const src = saving.spliceSource()!;
    saving.close();
    expect(saving.spliceSource()).toBeUndefined();
    expect(() => src.spliceTo(1, 1)).toThrow(VfioSyscallError);
    const libc = new LibcSyscalls();
    const noSplice: Syscalls = {
      open: (p, f) => libc.open(p, f),
      close: (fd) => libc.close(fd),
      ioctl: (fd, req, arg) => libc.ioctl(fd, req, arg),
      ioctlValue: (fd, req, v) => libc.ioctlValue(fd, req, v),
      pread: (fd, into, off) => libc.pread(fd, into, off),
      pwrite: (fd, from, off) => libc.pwrite(fd, from, off),
      read: (fd, into) => libc.read(fd, into),
      write: (fd, from) => libc.write(fd, from),
    };
    const [r3, w3] = makePipe();
    track(w3);
    const emulatedLike = new FdDataFile(noSplice, r3, 'saving', owner);
    expect(emulatedLike.spliceSource()).toBeUndefined();
    emulatedLike.close();
  });

  it('other splice errors throw a VfioSyscallError naming the device (EBADF: a target open read-only)', () => {
    const [r, w] = makePipe();
    track(w);
    const file = new FdDataFile(new LibcSyscalls(), r, 'saving', owner);
    fs.writeSync(w, Buffer.alloc(10));
    const ro = track(fs.openSync('/dev/null', 'r'));
    let caught: unknown;
    try {
      file.spliceSource()!.spliceTo(ro, 10);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(VfioSyscallError);
    expect((caught as VfioSyscallError).errno).toBe('EBADF');
    expect(String((caught as Error).message)).toContain('test-dev');
    file.close();
  });
});
