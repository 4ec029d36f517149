/**
 * The destination's multifd channels (docs/design/multifd.md §3–§6) on crafted packets:
 * RAM pages land where the offsets say, zero pages are filled, SYNC barriers hold a channel
 * until the main stream releases it, and every packet QEMU refuses is refused in its words,
 * naming the channel — byte layouts as the tables of multifd.md §2–§3 give them, not as our encoder writes.
 */
import { MemoryReadChannel, QemuFileReader } from '@savevm/stream';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { MigrationError, MultifdChannelError, MultifdReceiveChannels, SaveStateRegistry } from '../src/index.js';

const MAGIC = 0x11223344;

/** A RAM packet laid out by hand from QEMU's MultiFDPacket_t table (1344 bytes). */
function ramPacket(fields: { flags?: number; pagesAlloc?: number; normal?: number; zero?: number; block?: string; offsets?: number[]; magic?: number; version?: number }): Buffer {
  const b = Buffer.alloc(1344);
  b.writeUInt32BE(fields.magic ?? MAGIC, 0);
  b.writeUInt32BE(fields.version ?? 1, 4);
  b.writeUInt32BE(fields.flags ?? 0, 8);
  b.writeUInt32BE(fields.pagesAlloc ?? 128, 12);
  b.writeUInt32BE(fields.normal ?? 0, 16);
  b.writeUInt32BE((fields.normal ?? 0) * 4096, 20);
  b.writeBigUInt64BE(7n, 24);
  b.writeUInt32BE(fields.zero ?? 0, 32);
  b.write(fields.block ?? 'ram', 64, 'latin1');
  (fields.offsets ?? []).forEach((o, i) => b.writeBigUInt64BE(BigInt(o), 320 + 8 * i));
  return b;
}

/** A device-state packet from QEMU's MultiFDPacketDeviceState_t table (276 bytes) and its payload. */
function deviceStatePacket(idstr: string, instanceId: number, payload: Buffer, flags = 0x40): Buffer {
  const b = Buffer.alloc(276);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt32BE(1, 4);
  b.writeUInt32BE(flags, 8);
  b.write(idstr, 12, 'latin1');
  b.writeUInt32BE(instanceId, 268);
  b.writeUInt32BE(payload.length, 272);
  return Buffer.concat([b, payload]);
}

function page(fill: number): Buffer {
  return Buffer.alloc(4096, fill);
}

function channels(streams: Buffer[], options: { deviceState?: boolean; stallTimeoutMs?: number } = {}): MultifdReceiveChannels {
  return new MultifdReceiveChannels(
    streams.map((s) => new QemuFileReader(new MemoryReadChannel(s))),
    { settings: { channels: streams.length, deviceState: options.deviceState ?? true }, ...(options.stallTimeoutMs !== undefined && { stallTimeoutMs: options.stallTimeoutMs }) },
  );
}

/** Starts the loops; resolves with the first failure (or undefined once every channel ended). */
function run(m: MultifdReceiveChannels, registry = new SaveStateRegistry()): Promise<MigrationError | undefined> {
  return new Promise((resolve) => {
    m.start((idstr, instanceId) => registry.find(idstr, instanceId), resolve);
    m.noMoreInput.addEventListener('abort', () => setTimeout(() => resolve(m.error), 0));
  });
}

describe('multifd receive: RAM packets', () => {
  it('normal pages land at their offsets, zero pages are filled, the rest is untouched', async () => {
    const memory = Buffer.alloc(16 * 4096, 0xee);
    const packet = ramPacket({ normal: 2, zero: 1, offsets: [3 * 4096, 0, 5 * 4096] });
    const m = channels([Buffer.concat([packet, page(0x11), page(0x22)])]);
    let pages = 0;
    m.setRamTarget({ blockBytes: (n) => (n === 'ram' ? memory : undefined), pagesLoaded: (n, z) => (pages += n + z) });
    expect(await run(m)).toBeUndefined();
    expect(memory.subarray(3 * 4096, 4 * 4096).every((b) => b === 0x11)).toBe(true);
    expect(memory.subarray(0, 4096).every((b) => b === 0x22)).toBe(true);
    expect(memory.subarray(5 * 4096, 6 * 4096).every((b) => b === 0)).toBe(true);
    expect(memory.subarray(4096, 2 * 4096).every((b) => b === 0xee)).toBe(true);
    expect(pages).toBe(3);
  });

  test.prop([fc.uniqueArray(fc.nat({ max: 63 }), { minLength: 1, maxLength: 64 }), fc.boolean()], { numRuns: 50 })(
    'each page lands at its own offset, whether the offsets run consecutively or not',
    async (indices, sorted) => {
      const order = sorted ? [...indices].sort((a, b) => a - b) : indices;
      const memory = Buffer.alloc(64 * 4096, 0xee);
      const packet = ramPacket({ normal: order.length, pagesAlloc: 128, offsets: order.map((p) => p * 4096) });
      const m = channels([Buffer.concat([packet, ...order.map((p) => page(p + 1))])]);
      m.setRamTarget({ blockBytes: () => memory });
      expect(await run(m)).toBeUndefined();
      for (let p = 0; p < 64; p++) {
        const want = order.includes(p) ? p + 1 : 0xee;
        expect(memory.subarray(p * 4096, (p + 1) * 4096).every((b) => b === want)).toBe(true);
      }
    },
  );

  it('a 7.2 packet with a stale next_packet_size is sized by normal_pages', async () => {
    const memory = Buffer.alloc(4 * 4096);
    const stale = ramPacket({ normal: 0, flags: 1 });
    stale.writeUInt32BE(61440, 20);
    const m = channels([stale]);
    m.setRamTarget({ blockBytes: () => memory });
    const ended = run(m);
    await m.syncMain();
    expect(await ended).toBeUndefined();
  });

  it.each([
    ['bad magic', ramPacket({ magic: 0x11223345 }), 'multifd channel 0: multifd: received packet magic 11223345, expected 11223344'],
    ['bad version', ramPacket({ version: 2 }), 'multifd: received packet version 2, expected 1'],
    ['zlib compression', ramPacket({ flags: 0x02 }), 'multifd 0: flags received 2 flags expected 0'],
    ['more than 128 pages', ramPacket({ pagesAlloc: 129 }), 'multifd: received packet with 129 pages, expected 128'],
    ['more normal pages than allocated', ramPacket({ pagesAlloc: 4, normal: 5 }), 'non-zero pages, which exceeds maximum expected pages 4'],
    ['more zero pages than room', ramPacket({ normal: 100, zero: 29 }), 'multifd: received packet with 29 zero pages, expected maximum 28'],
    ['an unknown block', ramPacket({ normal: 1, block: 'nosuch', offsets: [0] }), 'multifd: unknown ram block nosuch'],
    ['an offset past the block', ramPacket({ normal: 1, offsets: [16 * 4096] }), 'multifd: offset too long 65536 (max f000)'],
    ['an offset that is not a page', ramPacket({ normal: 1, offsets: [100] }), 'is not a page in a RAM block'],
  ])('refuses %s, naming the channel', async (_what, packet, message) => {
    const m = channels([Buffer.concat([packet, page(1)])]);
    m.setRamTarget({ blockBytes: (n) => (n === 'ram' ? Buffer.alloc(16 * 4096) : undefined) });
    const error = await run(m);
    expect(error).toBeInstanceOf(MultifdChannelError);
    expect((error as MultifdChannelError).channel).toBe(0);
    expect(error?.message).toContain(message);
    expect(error?.phase).toBe('multifd');
  });

  it('a packet cut short is TRUNCATED on its channel', async () => {
    const m = channels([Buffer.alloc(0), ramPacket({ normal: 1, offsets: [0] }).subarray(0, 600)]);
    m.setRamTarget({ blockBytes: () => Buffer.alloc(4096) });
    const error = await run(m);
    expect((error as MultifdChannelError).channel).toBe(1);
    expect(error?.reason).toBe('TRUNCATED');
  });
});

describe('multifd receive: SYNC barriers', () => {
  it('a channel holds after its SYNC until the main stream releases every channel', async () => {
    const memory = Buffer.alloc(2 * 4096);
    const sync = ramPacket({ flags: 1, pagesAlloc: 0 });
    // Channel 0: SYNC, then a page; channel 1: only a SYNC.
    const m = channels([Buffer.concat([sync, ramPacket({ normal: 1, offsets: [0] }), page(0x33)]), sync]);
    m.setRamTarget({ blockBytes: () => memory });
    const ended = run(m);
    await new Promise((r) => setTimeout(r, 20));
    expect(memory[0]).toBe(0); // held behind the barrier
    await m.syncMain();
    expect(await ended).toBeUndefined();
    expect(memory[0]).toBe(0x33);
  });

  it('a channel that closes before its SYNC fails the barrier, naming it', async () => {
    const m = channels([ramPacket({ flags: 1, pagesAlloc: 0 }), Buffer.alloc(0)]);
    m.setRamTarget({ blockBytes: () => Buffer.alloc(4096) });
    void run(m);
    const error = await m.syncMain().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(MultifdChannelError);
    expect((error as MultifdChannelError).message).toContain('multifd channel 1: closed by the source before its SYNC');
  });

  it('a channel that brings no byte past the stall timeout fails the barrier, naming it', async () => {
    const silent = { read: () => new Promise<number>(() => undefined), close: async () => undefined, shutdown: () => undefined };
    const m = new MultifdReceiveChannels([new QemuFileReader(new MemoryReadChannel(ramPacket({ flags: 1, pagesAlloc: 0 }))), new QemuFileReader(silent)], {
      settings: { channels: 2, deviceState: false },
      stallTimeoutMs: 150,
    });
    m.start(() => undefined, () => undefined);
    const error = await m.syncMain().then(() => undefined, (e: unknown) => e);
    expect((error as MultifdChannelError).channel).toBe(1);
    expect((error as Error).message).toContain('stalled: no byte for 150 ms');
    expect((error as MigrationError).reason).toBe('TIMEOUT');
  });
});

describe('multifd receive: device-state packets', () => {
  function registryWith(received: Buffer[]): SaveStateRegistry {
    const registry = new SaveStateRegistry();
    registry.register('0000:00:02.0/vfio', 0, 1, { loadStateBuffer: (data: Buffer) => void received.push(Buffer.from(data)) });
    registry.register('timer', 0, 2, {});
    return registry;
  }

  it('hands each payload to its entry, in arrival order', async () => {
    const received: Buffer[] = [];
    const m = channels([Buffer.concat([deviceStatePacket('0000:00:02.0/vfio', 0, Buffer.from('second')), deviceStatePacket('0000:00:02.0/vfio', 0, Buffer.from('first!'))])]);
    expect(await run(m, registryWith(received))).toBeUndefined();
    expect(received.map((b) => b.toString())).toEqual(['second', 'first!']);
  });

  it.each([
    ['an unknown idstr', deviceStatePacket('nosuch', 0, Buffer.from('x')), 'Unknown idstr nosuch or instance id 0 for load state buffer'],
    ['an unknown instance', deviceStatePacket('0000:00:02.0/vfio', 3, Buffer.from('x')), 'Unknown idstr 0000:00:02.0/vfio or instance id 3 for load state buffer'],
    ['an entry without loadStateBuffer', deviceStatePacket('timer', 0, Buffer.from('x')), 'idstr timer / instance 0 has no load state buffer operation'],
    ['an empty payload', deviceStatePacket('timer', 0, Buffer.alloc(0)), 'multifd: received empty device state packet'],
    ['SYNC on a device-state packet', deviceStatePacket('timer', 0, Buffer.from('x'), 0x41), 'multifd: received SYNC device state packet'],
  ])('refuses %s in QEMU words', async (_what, bytes, message) => {
    const error = await run(channels([bytes]), registryWith([]));
    expect(error?.message).toContain(message);
    expect((error as MultifdChannelError).channel).toBe(0);
  });

  it('refuses an idstr without its NUL', async () => {
    const bytes = deviceStatePacket('x', 0, Buffer.from('x'));
    bytes.fill(0x41, 12, 268);
    expect((await run(channels([bytes]), registryWith([])))?.message).toContain('unterminated multifd device state idstr');
  });

  it('refuses device state on a migration without it', async () => {
    const error = await run(channels([deviceStatePacket('0000:00:02.0/vfio', 0, Buffer.from('x'))], { deviceState: false }), registryWith([]));
    expect(error?.message).toContain('got device state packet but not doing multifd transfer');
  });

  it('never allocates from the size field: a 4 GiB claim with 10 bytes behind it is refused by the limit, a 1 MiB claim is TRUNCATED', async () => {
    const huge = deviceStatePacket('0000:00:02.0/vfio', 0, Buffer.from('0123456789'));
    huge.writeUInt32BE(0xffffffff, 272);
    expect((await run(channels([huge]), registryWith([])))?.message).toContain('larger than the limit');
    const claim = deviceStatePacket('0000:00:02.0/vfio', 0, Buffer.from('0123456789'));
    claim.writeUInt32BE(1 << 20, 272);
    expect((await run(channels([claim]), registryWith([])))?.reason).toBe('TRUNCATED');
  });

  it('a payload released by its handler is read into again by the next packet of its size; one kept is not', async () => {
    const seen: { data: Buffer; text: string }[] = [];
    const registry = new SaveStateRegistry();
    registry.register('dev', 0, 1, {
      loadStateBuffer: (data: Buffer, _entry, context) => {
        seen.push({ data, text: data.toString() });
        if (seen.length !== 2) context?.release();
      },
    });
    const packets = ['first', 'again', 'third', 'fourth'].map((t) => deviceStatePacket('dev', 0, Buffer.from(t)));
    expect(await run(channels([Buffer.concat(packets)]), registry)).toBeUndefined();
    expect(seen.map((s) => s.text)).toEqual(['first', 'again', 'third', 'fourth']);
    expect(seen[1]?.data.buffer).toBe(seen[0]?.data.buffer); // released: reused
    expect(seen[2]?.data.buffer).not.toBe(seen[1]?.data.buffer); // the second was kept
    expect(seen[1]?.data.toString()).toBe('again'); // a kept payload is never overwritten
  });

  it('a payload released twice is given back once: two later packets never share memory', async () => {
    const seen: Buffer[] = [];
    const registry = new SaveStateRegistry();
    registry.register('dev', 0, 1, {
      loadStateBuffer: (data: Buffer, _entry, context) => {
        seen.push(data);
        if (seen.length === 1) {
          context?.release();
          context?.release();
        }
      },
    });
    const packets = ['aaaa', 'bbbb', 'cccc'].map((t) => deviceStatePacket('dev', 0, Buffer.from(t)));
    expect(await run(channels([Buffer.concat(packets)]), registry)).toBeUndefined();
    expect(seen[1]?.buffer).toBe(seen[0]?.buffer);
    expect(seen[2]?.buffer).not.toBe(seen[1]?.buffer);
    expect(seen.map((b) => b.toString())).toEqual(['bbbb', 'bbbb', 'cccc']);
  });

  it('a loadStateBuffer that throws fails the channel with DEVICE_FAILED, naming the entry and the hook', async () => {
    const registry = new SaveStateRegistry();
    registry.register('dev', 0, 1, {
      loadStateBuffer: () => {
        throw new Error('state buffer 3 already filled');
      },
    });
    const error = await run(channels([deviceStatePacket('dev', 0, Buffer.from('x'))]), registry);
    expect(error?.reason).toBe('DEVICE_FAILED');
    expect(error?.message).toContain('hook loadStateBuffer');
    expect(error?.message).toContain('state buffer 3 already filled');
  });
});
