import { describe, expect, it } from 'vitest';
import { Errno, FdDataFile, MigState, VfioIoctl, type VfioDataFile } from '../src/index.js';
import { createEmulatedDevice } from '../src/emulated/index.js';
import { fullImageSize } from '../src/emulated/image-format.js';
import { drain, stopCopyImage } from './helpers.js';

const SMALL = { stateSize: 16 * 1024, pageSize: 4096, seed: 11 };

function rawFd(file: VfioDataFile | undefined): number {
  if (!(file instanceof FdDataFile)) throw new Error('expected an fd data file');
  return file.fd;
}

describe('data sessions (emulated kernel, through the public device interface)', () => {
  it('RUNNING→PRE_COPY and RUNNING_P2P→PRE_COPY_P2P and STOP→STOP_COPY and STOP→RESUMING return a new file', () => {
    const { device } = createEmulatedDevice(SMALL);
    const a = device.setState(MigState.PRE_COPY).dataFile;
    expect(a?.direction).toBe('saving');
    device.setState(MigState.RUNNING_P2P);
    const b = device.setState(MigState.PRE_COPY_P2P).dataFile;
    expect(b).toBeDefined();
    device.setState(MigState.STOP);
    expect(device.setState(MigState.STOP_COPY).dataFile).toBeDefined();
    device.setState(MigState.STOP);
    const r = device.setState(MigState.RESUMING).dataFile;
    expect(r?.direction).toBe('resuming');
    device.close();
  });

  it('the saving group shares one session: PRE_COPY_P2P→STOP_COPY returns no file and the stream goes on', async () => {
    const source = createEmulatedDevice(SMALL);
    const file = source.device.setState(MigState.PRE_COPY).dataFile!;
    const pre = await drain(file, true);
    expect(source.device.setState(MigState.PRE_COPY_P2P).dataFile).toBeUndefined();
    expect(source.device.setState(MigState.STOP_COPY).dataFile).toBeUndefined();
    const rest = await drain(file);
    const target = createEmulatedDevice({ ...SMALL, seed: 99 });
    target.device.setState(MigState.STOP);
    const load = target.device.setState(MigState.RESUMING).dataFile!;
    await load.write(pre);
    await load.write(rest);
    target.device.setState(MigState.RUNNING);
    expect(Buffer.from(target.model.stateBytes).equals(Buffer.from(source.model.stateBytes))).toBe(true);
    source.device.close();
    target.device.close();
  });

  it('ENOMSG at a temporary end of pre-copy; 0 instead when configured like mtty', async () => {
    for (const mode of ['ENOMSG', 'zero'] as const) {
      const { device, kernel } = createEmulatedDevice({ ...SMALL, preCopyEmptyRead: mode });
      const file = device.setState(MigState.PRE_COPY).dataFile!;
      await drain(file, true);
      expect(await kernel.read(rawFd(file), new Uint8Array(64))).toBe(mode === 'ENOMSG' ? -Errno.ENOMSG : 0);
      expect(await file.read(new Uint8Array(64))).toEqual({ kind: 'no-data-yet' });
      device.close();
    }
  });

  it('0 for ever at the end of STOP_COPY', async () => {
    const { device, kernel } = createEmulatedDevice(SMALL);
    device.setState(MigState.STOP);
    const file = device.setState(MigState.STOP_COPY).dataFile!;
    const image = await drain(file);
    expect(image.byteLength).toBe(fullImageSize(SMALL.stateSize, SMALL.pageSize));
    for (let i = 0; i < 3; i++) {
      expect(await kernel.read(rawFd(file), new Uint8Array(64))).toBe(0);
      expect(await file.read(new Uint8Array(64))).toEqual({ kind: 'end' });
    }
    device.close();
  });

  it('ENODEV on an old file once its session ends (STOP_COPY→STOP, PRE_COPY→RUNNING, reset)', async () => {
    const { device } = createEmulatedDevice(SMALL);
    device.setState(MigState.STOP);
    const a = device.setState(MigState.STOP_COPY).dataFile!;
    device.setState(MigState.STOP);
    expect(await a.read(new Uint8Array(16))).toEqual({ kind: 'session-ended' });
    device.setState(MigState.RUNNING);
    const b = device.setState(MigState.PRE_COPY).dataFile!;
    device.setState(MigState.RUNNING);
    expect(await b.read(new Uint8Array(16))).toEqual({ kind: 'session-ended' });
    device.setState(MigState.STOP);
    const c = device.setState(MigState.RESUMING).dataFile!;
    device.reset();
    expect(device.getState()).toBe(MigState.RUNNING);
    await expect(c.write(new Uint8Array(8))).rejects.toMatchObject({ errno: 'ENODEV', errnoNumber: Errno.ENODEV, syscall: 'write' });
    device.close();
  });

  it('ESPIPE on positioned reads and writes; EBADF writing a saving file; EBADF reading a resuming file', async () => {
    const { device, kernel } = createEmulatedDevice(SMALL);
    device.setState(MigState.STOP);
    const save = device.setState(MigState.STOP_COPY).dataFile!;
    expect(kernel.pread(rawFd(save), new Uint8Array(8), 0)).toBe(-Errno.ESPIPE);
    expect(kernel.pwrite(rawFd(save), new Uint8Array(8), 0)).toBe(-Errno.ESPIPE);
    await expect(save.write(new Uint8Array(8))).rejects.toMatchObject({ errno: 'EBADF' });
    device.setState(MigState.STOP);
    const load = device.setState(MigState.RESUMING).dataFile!;
    await expect(load.read(new Uint8Array(8))).rejects.toMatchObject({ errno: 'EBADF' });
    device.close();
  });

  it('ENOMEM writing past the state; EFAULT for a bad header', async () => {
    const image = await stopCopyImage(SMALL);
    const { device } = createEmulatedDevice(SMALL);
    device.setState(MigState.STOP);
    const load = device.setState(MigState.RESUMING).dataFile!;
    await load.write(image);
    await expect(load.write(new Uint8Array(1))).rejects.toMatchObject({ errno: 'ENOMEM' });
    device.close();

    const other = createEmulatedDevice(SMALL);
    other.device.setState(MigState.STOP);
    const bad = other.device.setState(MigState.RESUMING).dataFile!;
    const corrupt = image.slice(0, 24);
    corrupt[0] = (corrupt[0] ?? 0) ^ 0xff;
    await expect(bad.write(corrupt)).rejects.toMatchObject({ errno: 'EFAULT' });
    other.device.close();
  });

  it('a write past the state is refused with ENOMEM, consumes nothing, and the session goes on (as Linux 6.12 mtty)', async () => {
    const image = await stopCopyImage(SMALL);
    const { device, model } = createEmulatedDevice({ ...SMALL, seed: 99 });
    device.setState(MigState.STOP);
    const load = device.setState(MigState.RESUMING).dataFile!;
    // The whole image plus one byte in one write: refused whole.
    const tooLong = new Uint8Array(image.byteLength + 1);
    tooLong.set(image);
    await expect(load.write(tooLong)).rejects.toMatchObject({ errno: 'ENOMEM' });
    // The right bytes afterwards load, and a byte after them is refused without spoiling them.
    await load.write(image);
    await expect(load.write(new Uint8Array(1))).rejects.toMatchObject({ errno: 'ENOMEM' });
    device.setState(MigState.STOP);
    const source = createEmulatedDevice(SMALL);
    expect(Buffer.from(model.stateBytes).equals(Buffer.from(source.model.stateBytes))).toBe(true);
    device.close();
    source.device.close();
  });

  it('a saving file refuses writes with EBADF even after its session ended; a resuming one refuses reads with EBADF', async () => {
    const { device } = createEmulatedDevice(SMALL);
    device.setState(MigState.STOP);
    const save = device.setState(MigState.STOP_COPY).dataFile!;
    device.setState(MigState.STOP);
    await expect(save.write(new Uint8Array(8))).rejects.toMatchObject({ errno: 'EBADF' });
    const load = device.setState(MigState.RESUMING).dataFile!;
    device.reset(); // ends the resuming session
    await expect(load.read(new Uint8Array(8))).rejects.toMatchObject({ errno: 'EBADF' });
    device.close();
  });

  it('PRECOPY_INFO: ENOTTY on a resuming file, ENODEV on an old file while a newer pre-copy session runs', () => {
    const { device } = createEmulatedDevice({ ...SMALL, migrationFlags: 7 });
    const old = device.setState(MigState.PRE_COPY).dataFile!;
    device.setState(MigState.RUNNING);
    device.setState(MigState.PRE_COPY).dataFile!;
    expect(() => device.getPrecopyInfo(old)).toThrow(expect.objectContaining({ errno: 'ENODEV' }));
    device.setState(MigState.STOP);
    const load = device.setState(MigState.RESUMING).dataFile!;
    expect(() => device.getPrecopyInfo(load)).toThrow(expect.objectContaining({ errno: 'ENOTTY' }));
    device.close();
  });

  it('RESUMING→STOP validates: short or corrupted state is EINVAL and the device stays RESUMING', async () => {
    const image = await stopCopyImage(SMALL);
    const cases: Array<[string, Uint8Array]> = [
      ['nothing', new Uint8Array(0)],
      ['short', image.subarray(0, image.byteLength - 5)],
      ['missing end', image.subarray(0, image.byteLength - 12)],
      ['corrupt page', (() => { const c = image.slice(); c[100] = (c[100] ?? 0) ^ 1; return c; })()],
    ];
    for (const [label, bytes] of cases) {
      const { device, model } = createEmulatedDevice({ ...SMALL, seed: 5 });
      const before = Buffer.from(model.stateBytes);
      device.setState(MigState.STOP);
      const load = device.setState(MigState.RESUMING).dataFile!;
      if (bytes.byteLength > 0) await load.write(bytes);
      expect(() => device.setState(MigState.STOP), label).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
      expect(device.getState(), label).toBe(MigState.RESUMING);
      expect(() => device.setState(MigState.STOP_COPY), label).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
      expect(device.getState(), label).toBe(MigState.RESUMING);
      expect(Buffer.from(model.stateBytes).equals(before), label).toBe(true);
      device.close();
    }
  });

  it('a failed SET copies back {requested, −1}', () => {
    const { device, kernel } = createEmulatedDevice(SMALL);
    device.setState(MigState.STOP);
    device.setState(MigState.STOP_COPY);
    const buf = new Uint8Array(16);
    const view = new DataView(buf.buffer);
    view.setUint32(0, 16, true);
    view.setUint32(4, (1 << 17) | 2, true);
    view.setUint32(8, MigState.PRE_COPY, true);
    view.setInt32(12, 1234, true);
    expect(kernel.ioctl((device as unknown as { fd: number }).fd, VfioIoctl.DEVICE_FEATURE, buf)).toBe(-Errno.EINVAL);
    expect([view.getUint32(8, true), view.getInt32(12, true)]).toEqual([MigState.PRE_COPY, -1]);
    device.close();
  });

  it('GET_PRECOPY_INFO: initial bytes go down as read, dirty bytes from the workload; EINVAL outside pre-copy; ENOTTY without pre-copy', async () => {
    const { device, model } = createEmulatedDevice(SMALL);
    const file = device.setState(MigState.PRE_COPY).dataFile!;
    const first = device.getPrecopyInfo(file);
    expect(first.initialBytes).toBe(fullImageSize(SMALL.stateSize, SMALL.pageSize) - 12);
    expect(first.dirtyBytes).toBe(0);
    const buf = new Uint8Array(1000);
    expect(await file.read(buf)).toEqual({ kind: 'data', bytes: 1000 });
    expect(device.getPrecopyInfo(file).initialBytes).toBe(first.initialBytes - 1000);
    await drain(file, true);
    expect(device.getPrecopyInfo(file)).toMatchObject({ initialBytes: 0, dirtyBytes: 0 });
    model.runWorkload(1);
    expect(device.getPrecopyInfo(file).dirtyBytes).toBe(12 + 4096);
    expect((await drain(file, true)).byteLength).toBe(12 + 4096);
    device.setState(MigState.STOP_COPY);
    expect(() => device.getPrecopyInfo(file)).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
    device.setState(MigState.STOP);
    expect(() => device.getPrecopyInfo(file)).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
    device.close();

    const noPre = createEmulatedDevice({ ...SMALL, migrationFlags: 3 });
    noPre.device.setState(MigState.STOP);
    const f = noPre.device.setState(MigState.STOP_COPY).dataFile!;
    expect(() => noPre.device.getPrecopyInfo(f)).toThrow(expect.objectContaining({ errno: 'ENOTTY' }));
    noPre.device.close();
  });

  it('MIG_DATA_SIZE in every state', async () => {
    const { device } = createEmulatedDevice(SMALL);
    const size = fullImageSize(SMALL.stateSize, SMALL.pageSize);
    for (const state of [MigState.RUNNING, MigState.PRE_COPY, MigState.PRE_COPY_P2P, MigState.STOP_COPY, MigState.STOP, MigState.RESUMING, MigState.RUNNING_P2P]) {
      device.setState(state);
      expect(device.getStopCopySize()).toBe(size);
      if (state === MigState.RESUMING) device.reset();
    }
    device.close();
  });

  it('a live migration with a dirtying workload arrives byte for byte', async () => {
    const source = createEmulatedDevice({ stateSize: 256 * 1024, seed: 21, dirtyPagesPerRead: 2 });
    const target = createEmulatedDevice({ stateSize: 256 * 1024, seed: 22 });
    expect(Buffer.from(source.model.stateBytes).equals(Buffer.from(target.model.stateBytes))).toBe(false);
    target.device.setState(MigState.STOP);
    const load = target.device.setState(MigState.RESUMING).dataFile!;
    const save = source.device.setState(MigState.PRE_COPY).dataFile!;
    const buf = new Uint8Array(32 * 1024);
    let sawDirty = false;
    for (let round = 0; round < 4; round++) {
      // The workload dirties pages on every read, so pre-copy never converges: bound each round.
      for (let reads = 0; reads < 6; reads++) {
        const r = await save.read(buf);
        if (r.kind !== 'data') break;
        await load.write(buf.subarray(0, r.bytes));
      }
      source.model.runWorkload(3);
      if (source.device.getPrecopyInfo(save).dirtyBytes > 0) sawDirty = true;
    }
    expect(sawDirty).toBe(true);
    source.device.setState(MigState.STOP_COPY);
    for (;;) {
      const r = await save.read(buf);
      if (r.kind !== 'data') {
        expect(r.kind).toBe('end');
        break;
      }
      await load.write(buf.subarray(0, r.bytes));
    }
    source.device.setState(MigState.STOP);
    target.device.setState(MigState.RUNNING);
    expect(Buffer.from(target.model.stateBytes).equals(Buffer.from(source.model.stateBytes))).toBe(true);
    source.device.close();
    target.device.close();
  });
});

describe('a resuming session fed in pieces of any size', () => {
  it('loads a pre-copy image (pages sent more than once) whatever the write sizes (property)', async () => {
    const { fc } = await import('@fast-check/vitest');
    const cfg = { stateSize: 96 * 1024, pageSize: 4096, seed: 3, migrationFlags: 7, dirtyPagesPerRead: 2 };
    const source = createEmulatedDevice(cfg);
    const file = source.device.setState(MigState.PRE_COPY).dataFile!;
    const buf = new Uint8Array(8192);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await file.read(buf);
      if (r.kind !== 'data') break;
      parts.push(buf.slice(0, r.bytes));
    }
    source.device.setState(MigState.STOP_COPY);
    parts.push(await drain(file));
    const image = Buffer.concat(parts);
    const expected = Buffer.from(source.model.stateBytes);
    source.device.close();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 40 }), async (sizes) => {
        const target = createEmulatedDevice({ ...cfg, seed: 77, dirtyPagesPerRead: 0 });
        target.device.setState(MigState.STOP);
        const load = target.device.setState(MigState.RESUMING).dataFile!;
        let at = 0;
        for (let i = 0; at < image.length; i++) {
          const n = sizes[i % sizes.length]!;
          await load.write(image.subarray(at, at + n));
          at += n;
        }
        target.device.setState(MigState.STOP);
        const ok = Buffer.from(target.model.stateBytes).equals(expected);
        target.device.close();
        return ok;
      }),
      { numRuns: 60 },
    );
  });
});
