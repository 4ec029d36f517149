import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  Errno,
  FdVfioDevice,
  LibcSyscalls,
  MigState,
  VfioIoctl,
  VfioSyscallError,
  allocateAlignedBuffer,
  encodeDeviceFeature,
  VfioFeatureFlags,
  VfioFeature,
} from '../src/index.js';
import { bufferAddress } from '../src/syscalls/libc.js';

describe('libc syscalls through koffi', () => {
  it('VFIO_DEVICE_FEATURE on /dev/null gives ENOTTY (raw)', () => {
    const sys = new LibcSyscalls();
    const fd = sys.open('/dev/null', 2);
    expect(fd).toBeGreaterThanOrEqual(0);
    try {
      const buf = encodeDeviceFeature(VfioFeatureFlags.GET | VfioFeature.MIGRATION, 8);
      expect(sys.ioctl(fd, VfioIoctl.DEVICE_FEATURE, buf)).toBe(-Errno.ENOTTY);
      expect(sys.ioctlValue(fd, VfioIoctl.CHECK_EXTENSION, 3)).toBe(-Errno.ENOTTY);
    } finally {
      expect(sys.close(fd)).toBe(0);
    }
  });

  it('a device on /dev/null throws a typed error naming errno, syscall, ioctl and device', () => {
    const sys = new LibcSyscalls();
    const fd = sys.open('/dev/null', 2);
    const device = new FdVfioDevice(sys, fd, 'null-device');
    try {
      let caught: unknown;
      try {
        device.setState(MigState.STOP);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(VfioSyscallError);
      const error = caught as VfioSyscallError;
      expect(error.errnoNumber).toBe(25);
      expect(error.errno).toBe('ENOTTY');
      expect(error.syscall).toBe('ioctl');
      expect(error.op).toBe('VFIO_DEVICE_FEATURE SET MIG_DEVICE_STATE→STOP');
      expect(error.device).toBe('null-device');
      expect(error.message).toContain('null-device');
      expect(device.probeMigrationFlags()).toBeUndefined();
    } finally {
      device.close();
    }
    expect(() => fs.fstatSync(fd)).toThrow();
  });

  it('errors of open, pread and close come back as −errno', () => {
    const sys = new LibcSyscalls();
    expect(sys.open('/nonexistent/vfio', 2)).toBe(-Errno.ENOENT);
    expect(sys.close(987654)).toBe(-Errno.EBADF);
    const [r] = [fs.openSync('/dev/null', 'r')];
    expect(sys.pwrite(r, new Uint8Array(1), 0)).toBe(-Errno.EBADF);
    fs.closeSync(r);
  });

  it('read/write on a pipe do not block and return byte counts; pread on a pipe is ESPIPE', async () => {
    const sys = new LibcSyscalls();
    const dir = fs.mkdtempSync('/tmp/vfio-fifo-');
    const fifo = `${dir}/f`;
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const wfd = fs.openSync(fifo, fs.constants.O_WRONLY);
    try {
      const data = allocateAlignedBuffer(1 << 16).fill(7);
      expect(await sys.write(wfd, data)).toBe(1 << 16);
      const into = allocateAlignedBuffer(1 << 16);
      expect(await sys.read(rfd, into)).toBe(1 << 16);
      expect(into.every((b) => b === 7)).toBe(true);
      expect(sys.pread(rfd, into, 0)).toBe(-Errno.ESPIPE);
    } finally {
      fs.closeSync(rfd);
      fs.closeSync(wfd);
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('allocateAlignedBuffer returns page-aligned memory', () => {
    for (const size of [1, 4096, 1 << 20]) {
      const buf = allocateAlignedBuffer(size);
      expect(buf.byteLength).toBe(size);
      expect(bufferAddress(buf) % 4096n).toBe(0n);
    }
  });
});

describe('kernel data file over a real pipe', () => {
  it('maps bytes, 0 (end outside pre-copy, no-data-yet in pre-copy) and closes the fd', async () => {
    const { FdDataFile, MigState: S } = await import('../src/index.js');
    const { execFileSync } = await import('node:child_process');
    const dir = fs.mkdtempSync('/tmp/vfio-df-');
    const fifo = `${dir}/f`;
    execFileSync('mkfifo', [fifo]);
    const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const wfd = fs.openSync(fifo, fs.constants.O_WRONLY);
    let state: MigState = S.PRE_COPY;
    const sys = new LibcSyscalls();
    const file = new FdDataFile(sys, rfd, 'saving', { name: 'pipe-device', lastKnownState: () => state, forget: () => {} });
    try {
      fs.writeSync(wfd, Buffer.from('hello'));
      fs.closeSync(wfd);
      const buf = allocateAlignedBuffer(4096);
      expect(await file.read(buf)).toEqual({ kind: 'data', bytes: 5 });
      expect(await file.read(buf)).toEqual({ kind: 'no-data-yet' });
      state = S.STOP_COPY;
      expect(await file.read(buf)).toEqual({ kind: 'end' });
      await expect(file.write(new Uint8Array(1))).rejects.toMatchObject({ errno: 'EBADF', syscall: 'write', device: 'pipe-device' });
    } finally {
      file.close();
      fs.rmSync(dir, { recursive: true });
    }
    expect(() => fs.fstatSync(rfd)).toThrow();
  });
});
