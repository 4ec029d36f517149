import { spawn } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FdChannel, MemoryWriteChannel, QemuFileWriter, type WriteChannel } from '@savevm/stream';
import type { DataSpliceSource, FdDataFile, VfioDataFile } from '@savevm/vfio';
import { PipeDevice, makePipe, saveDevice } from './helpers/pipe-device.js';
import { bodyShape, vfioSections } from './helpers/stream-layout.js';

const MIB = 1024 * 1024;
const paths: string[] = [];
function tmpPath(): string {
  const p = path.join(os.tmpdir(), `savevm-splice-save-${process.pid}-${paths.length}`);
  paths.push(p);
  return p;
}
afterEach(() => {
  for (const p of paths.splice(0)) fs.rmSync(p, { force: true });
});

function payload(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n, 0xa5);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

/** Counts the splice path's calls on a data file, optionally refusing splice as a kernel data_fd would. */
class CountingFile implements VfioDataFile {
  ready = 0;
  readyAfterRefusal = 0;
  attempts = 0;
  spliced = 0;
  refusedOnce = false;
  constructor(
    readonly inner: FdDataFile,
    readonly refuse: boolean,
  ) {}
  get direction(): 'saving' | 'resuming' {
    return this.inner.direction;
  }
  get closed(): boolean {
    return this.inner.closed;
  }
  read(into: Uint8Array) {
    return this.inner.read(into);
  }
  write(from: Uint8Array) {
    return this.inner.write(from);
  }
  close(): void {
    this.inner.close();
  }
  spliceSource(): DataSpliceSource | undefined {
    if (this.refusedOnce) return undefined;
    const src = this.inner.spliceSource();
    if (src === undefined) return undefined;
    return {
      readyBytes: () => {
        this.ready++;
        if (this.refusedOnce) this.readyAfterRefusal++;
        return this.refusedOnce ? 'unsupported' : src.readyBytes();
      },
      spliceTo: (fd, n) => {
        this.attempts++;
        if (this.refuse) {
          this.refusedOnce = true;
          return 'unsupported';
        }
        this.spliced++;
        return src.spliceTo(fd, n);
      },
      read: (into) => src.read(into),
    };
  }
}

/** Saves `data` pre-loaded into a 1 MiB pipe (deterministic blocks) or fed by `cat` (streamed). */
async function save(data: Buffer, channel: WriteChannel, opts: { streamed?: boolean; refuse?: boolean } = {}) {
  const [r, w] = makePipe(MIB);
  let feeder: Promise<void> = Promise.resolve();
  if (opts.streamed) {
    const file = tmpPath();
    fs.writeFileSync(file, data);
    const child = spawn('cat', [file], { stdio: ['ignore', w, 'inherit'] });
    feeder = new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`cat ${code}`)))));
  } else {
    fs.writeSync(w, data);
  }
  fs.closeSync(w);
  let counting: CountingFile | undefined;
  const device = new PipeDevice('0000:00:03.0', { sourceFd: r, sinkFd: -1, stopCopySize: data.length }, (f) => (counting = new CountingFile(f, opts.refuse ?? false)));
  const writer = new QemuFileWriter(channel, channel instanceof FdChannel ? { synchronous: true } : {});
  const info = await saveDevice(device, writer);
  await writer.flush();
  await feeder;
  expect(info.status).toBe('completed');
  expect(counting!.closed).toBe(true);
  return { counting: counting!, writer };
}

describe('vfio-v2 save: the data_fd pipe spliced into the stream fd', () => {
  it('same stream, byte for byte, as the plain read + put path (data pre-loaded: deterministic blocks)', async () => {
    const data = payload(MIB - 4096 + 100, 3);
    const out = tmpPath();
    const fd = fs.openSync(out, 'w');
    const blocks: boolean[] = [];
    const onBlock = (payload: unknown): void => void blocks.push((payload as { spliced: boolean }).spliced);
    diagnostics.subscribe('vfio_save_block', onBlock);
    const spliced = await save(data, new FdChannel(fd, { mode: 'sync', ownsFd: true }));
    await spliced.writer.close();
    const splicedBlocks = blocks.splice(0);
    const mem = new MemoryWriteChannel();
    const plain = await save(data, mem);
    diagnostics.unsubscribe('vfio_save_block', onBlock);
    // The trace says which path each block took.
    expect(splicedBlocks).toEqual([true]);
    expect(blocks).toEqual([false]);
    expect(spliced.counting.spliced).toBeGreaterThan(0);
    expect(plain.counting.ready).toBe(0); // a memory channel is no splice target: never asked
    const a = fs.readFileSync(out);
    expect(a.equals(mem.bytes())).toBe(true);
    const sections = await vfioSections(a);
    expect(sections.map(bodyShape)).toEqual(['SETUP END', `DATA(${data.length}) END`]);
    expect(sections[1]!.data.equals(data)).toBe(true);
    expect(spliced.writer.bytesWritten).toBe(a.length);
    expect(spliced.writer.bytesFlushed).toBe(a.length);
  });

  it('streamed by another process (cat → pipe): blocks of at most 1 MiB, payload identical, framing valid', async () => {
    const data = payload(5 * MIB + 12_345, 9);
    const out = tmpPath();
    const spliced = await save(data, new FdChannel(fs.openSync(out, 'w'), { mode: 'sync', ownsFd: true }), { streamed: true });
    await spliced.writer.close();
    const sections = await vfioSections(fs.readFileSync(out));
    const end = sections[1]!;
    expect(end.data.equals(data)).toBe(true);
    for (const item of end.body) if (item.tag === 'DATA') expect(item.size).toBeLessThanOrEqual(MIB);
    expect(spliced.counting.spliced).toBeGreaterThan(0);
  });

  it('splice refused (EINVAL, as a kernel data_fd): that block is read and put, the path is dropped, the stream is identical', async () => {
    const data = payload(3 * MIB + 8, 5);
    const out = tmpPath();
    const refused = await save(data, new FdChannel(fs.openSync(out, 'w'), { mode: 'sync', ownsFd: true }), { streamed: true, refuse: true });
    await refused.writer.close();
    // One splice tried (refused: that block is read + put), 'unsupported' told at the next
    // ask, never asked again. (How often FIONREAD found the pipe still empty before the
    // first splice depends on the producer's timing, so that count is not pinned.)
    expect(refused.counting.attempts).toBe(1);
    expect(refused.counting.readyAfterRefusal).toBe(1);
    expect(refused.counting.spliced).toBe(0);
    const sections = await vfioSections(fs.readFileSync(out));
    expect(sections[1]!.data.equals(data)).toBe(true);
    for (const item of sections[1]!.body) if (item.tag === 'DATA') expect(item.size).toBeLessThanOrEqual(MIB);
  });

  it('an empty data stream: END_OF_STATE right away, same as the plain path', async () => {
    const out = tmpPath();
    const spliced = await save(Buffer.alloc(0), new FdChannel(fs.openSync(out, 'w'), { mode: 'sync', ownsFd: true }));
    await spliced.writer.close();
    const mem = new MemoryWriteChannel();
    await save(Buffer.alloc(0), mem);
    expect(fs.readFileSync(out).equals(mem.bytes())).toBe(true);
    expect(spliced.counting.spliced).toBe(0);
  });
});

describe('vfio-v2 load: the stream fd spliced into the data_fd pipe', () => {
  it('a saved stream loads through the splice path into a pipe drained by another process: payload identical', async () => {
    const { FdChannel: Fd, QemuFileReader } = await import('@savevm/stream');
    const { loadDevice } = await import('./helpers/pipe-device.js');
    const data = payload(3 * MIB + 4321, 11);
    const streamPath = tmpPath();
    const saved = await save(data, new FdChannel(fs.openSync(streamPath, 'w'), { mode: 'sync', ownsFd: true }), { streamed: true });
    await saved.writer.close();
    const [r, w] = makePipe(MIB);
    const outPath = tmpPath();
    const out = fs.openSync(outPath, 'w');
    const drainer = spawn('cat', [], { stdio: [r, out, 'inherit'] });
    const drained = new Promise<void>((resolve) => drainer.once('exit', () => resolve()));
    fs.closeSync(r);
    fs.closeSync(out);
    const device = new PipeDevice('0000:00:03.0', { sourceFd: -1, sinkFd: w, stopCopySize: data.length });
    const reader = new QemuFileReader(new Fd(fs.openSync(streamPath, 'r'), { mode: 'sync', ownsFd: true }));
    const info = await loadDevice(device, reader);
    await reader.close();
    await drained;
    expect(info.status).toBe('completed');
    expect(device.files[0]!.closed).toBe(true);
    expect(fs.readFileSync(outPath).equals(data)).toBe(true);
  });

  it('the data_fd side of the splice failing (EPIPE: its reader is gone) fails the load naming the device', async () => {
    const { FdChannel: Fd, QemuFileReader } = await import('@savevm/stream');
    const { loadDevice } = await import('./helpers/pipe-device.js');
    const { VfioV2MigrationError } = await import('../src/index.js');
    const data = payload(2 * MIB + 99, 12);
    const streamPath = tmpPath();
    const saved = await save(data, new FdChannel(fs.openSync(streamPath, 'w'), { mode: 'sync', ownsFd: true }), { streamed: true });
    await saved.writer.close();
    const [r, w] = makePipe(MIB);
    fs.closeSync(r); // nobody will ever read the device's side
    const device = new PipeDevice('0000:00:03.0', { sourceFd: -1, sinkFd: w, stopCopySize: data.length });
    const reader = new QemuFileReader(new Fd(fs.openSync(streamPath, 'r'), { mode: 'sync', ownsFd: true }));
    const failure = await loadDevice(device, reader).then(
      () => undefined,
      (e: unknown) => e,
    );
    await reader.close();
    let cause: unknown = failure;
    while (cause !== undefined && !(cause instanceof VfioV2MigrationError)) cause = (cause as { cause?: unknown }).cause;
    expect(cause).toBeInstanceOf(VfioV2MigrationError);
    expect((cause as InstanceType<typeof VfioV2MigrationError>).device).toBe('0000:00:03.0');
    expect((failure as Error).message).toMatch(/vfio device 0000:00:03\.0/);
    expect((failure as Error).message).toMatch(/EPIPE/);
    expect(device.files[0]!.closed).toBe(true);
  });
});
