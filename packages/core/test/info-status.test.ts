import { describe, expect, it } from 'vitest';
import { MemoryWriteChannel, QemuFileWriter } from '@savevm/stream';
import { RunState, type MigrationClock, type MigrationInfo, type SaveVMHandlers } from '../src/index.js';
import { BlobDevice } from './helpers/devices.js';
import { ProbeDevice } from './helpers/probe-device.js';
import { World, readerOf } from './helpers/world.js';

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** A clock that moves a fraction of a millisecond on every read, as `performance.now()` does. */
class FractionalClock implements MigrationClock {
  private t = 1000.123;
  now(): number {
    this.t += 1.377;
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms + 0.41;
  }
}

/** Every info pushed, in order (no deduplication). */
function recordAll(info$: World['source']['info$']): MigrationInfo[] {
  const all: MigrationInfo[] = [];
  info$.subscribe((i) => void all.push(i));
  return all;
}

/** Exactly one terminal info, the last one; every time in whole milliseconds. */
async function expectOneTerminal(all: MigrationInfo[], status: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 20)); // anything late would arrive now
  const terminal = all.filter((i) => TERMINAL.has(i.status));
  expect(terminal.map((i) => i.status)).toEqual([status]);
  expect(all.at(-1)?.status).toBe(status);
  for (const i of all) {
    for (const t of [i.totalTimeMs, i.setupTimeMs, i.downtimeMs, i.expectedDowntimeMs]) {
      if (t !== undefined) expect(Number.isInteger(t)).toBe(true);
    }
  }
}

function sourceWorld(onHook: ConstructorParameters<typeof ProbeDevice>[2] = () => undefined): World {
  const src = new World(RunState.RUNNING, new FractionalClock());
  src.registry.register('a', 0, 1, new ProbeDevice('a', [], onHook));
  src.registry.register('blob', 0, 1, new BlobDevice(Buffer.from('blob-state')));
  return src;
}

async function migrate(src: World): Promise<{ bytes: Buffer; result: MigrationInfo | unknown }> {
  const channel = new MemoryWriteChannel();
  const result = await src.source.migrate(new QemuFileWriter(channel), { maxBandwidth: 0 }).catch((e: unknown) => e);
  return { bytes: channel.bytes(), result };
}

function destinationWorld(loadState?: SaveVMHandlers['loadState']): World {
  const dst = new World(RunState.INMIGRATE, new FractionalClock());
  dst.registry.register('a', 0, 1, { loadState: async (f) => void (await f.getBe32()) });
  dst.registry.register('blob', 0, 1, loadState ? { loadState } : new BlobDevice(Buffer.alloc(0)));
  return dst;
}

describe('info$ ends with exactly one terminal status, times in whole milliseconds', () => {
  it('source and destination, completed', async () => {
    const src = sourceWorld();
    const sent = recordAll(src.source.info$);
    const { bytes, result } = await migrate(src);
    expect((result as MigrationInfo).status).toBe('completed');
    await expectOneTerminal(sent, 'completed');
    expect(sent.at(-1)).toBe(result); // the info migrate resolved with is the one pushed last
    expect(sent.at(-1)?.downtimeMs).toBeDefined();

    const dst = destinationWorld();
    const loaded = recordAll(dst.destination.info$);
    const info = await dst.destination.load(readerOf(bytes));
    expect(info.status).toBe('completed');
    await expectOneTerminal(loaded, 'completed');
  });

  it('source and destination, failed', async () => {
    const src = sourceWorld((hook) => {
      if (hook === 'saveLiveIterate') throw new Error('boom');
    });
    const sent = recordAll(src.source.info$);
    await migrate(src);
    await expectOneTerminal(sent, 'failed');

    const { bytes } = await migrate(sourceWorld());
    const dst = destinationWorld(() => {
      throw new Error('refused');
    });
    const loaded = recordAll(dst.destination.info$);
    await dst.destination.load(readerOf(bytes)).catch(() => undefined);
    await expectOneTerminal(loaded, 'failed');
  });

  it('cancelled: the source ends cancelled, the destination of the cut stream failed', async () => {
    let src: World | undefined;
    src = sourceWorld((hook) => {
      if (hook === 'saveLiveIterate') src?.source.cancel();
    });
    const sent = recordAll(src.source.info$);
    const { bytes } = await migrate(src);
    await expectOneTerminal(sent, 'cancelled');
    expect(sent.filter((i) => i.status === 'cancelling').length).toBeGreaterThan(0);

    const dst = destinationWorld();
    const loaded = recordAll(dst.destination.info$);
    await dst.destination.load(readerOf(bytes)).catch(() => undefined);
    await expectOneTerminal(loaded, 'failed');
  });
});
