import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import net from 'node:net';
import { INSTANCE_ID_ANY, QemuFileReader, SocketChannel, parseVmDescription } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { RunState, TracePoint, type SectionTrace } from '../src/index.js';
import { BlobDevice, RamLikeDevice } from './helpers/devices.js';
import { World, readerOf, saveToMemory } from './helpers/world.js';

/** 3 live RAM-like devices (one idstr, instances 0..2) and 5 non-live blobs, on both sides. */
function populate(world: World, seedBase: number) {
  const live = [0, 1, 2].map((i) => new RamLikeDevice({ pages: 8 + i * 3, pageSize: 64, seed: seedBase + i }));
  const blobs = [0, 1, 2, 3, 4].map((i) => new BlobDevice(Buffer.from(`blob-${i}-${seedBase}`.repeat(i + 1))));
  const liveEntries = live.map((d) => world.registry.register('ram', INSTANCE_ID_ANY, 4, d));
  const blobEntries = blobs.map((d, i) => world.registry.register(i < 3 ? 'timer' : `dev${i}`, INSTANCE_ID_ANY, 2, d));
  return { live, blobs, liveEntries, blobEntries };
}

describe('round trip of 3 live and 5 non-live handlers', () => {
  it('through memory: bytes restored, statuses in order, stream shaped like QEMU', async () => {
    const src = new World(RunState.RUNNING);
    const a = populate(src, 1);
    const dst = new World(RunState.INMIGRATE);
    const b = populate(dst, 99);
    expect(a.liveEntries.map((e) => e.instanceId)).toEqual([0, 1, 2]);
    expect(a.blobEntries.map((e) => e.instanceId)).toEqual([0, 1, 2, 0, 0]);

    const sections: string[] = [];
    const onSection = (m: unknown): void => {
      const t = m as SectionTrace;
      sections.push(`${t.type}:${t.idstr}/${t.instanceId}`);
    };
    diagnosticsChannel.subscribe(TracePoint.savevm_section_start, onSection);
    const { bytes, info } = await saveToMemory(src).finally(() =>
      diagnosticsChannel.unsubscribe(TracePoint.savevm_section_start, onSection),
    );
    expect(info.status).toBe('completed');
    expect(src.sourceStatuses).toEqual(['none', 'setup', 'active', 'device', 'completed']);
    expect(src.runState.state).toBe(RunState.POSTMIGRATE);
    expect(info.entries.map((e) => e.bytes).every((n) => n > 0)).toBe(true);

    // Record order, from the trace points: START×3, PART…, END×3, FULL×5.
    const kinds = sections;
    expect(kinds.slice(0, 3)).toEqual(['start:ram/0', 'start:ram/1', 'start:ram/2']);
    const tail = kinds.slice(kinds.indexOf('end:ram/0'));
    expect(tail).toEqual([
      'end:ram/0', 'end:ram/1', 'end:ram/2',
      'full:timer/0', 'full:timer/1', 'full:timer/2', 'full:dev3/0', 'full:dev4/0',
    ]);
    expect(kinds.slice(3, kinds.indexOf('end:ram/0')).every((k) => k.startsWith('part:ram/'))).toBe(true);
    // The stream ends with EOF then a vmdesc listing the FULL sections only.
    const vmdesc = vmdescOf(bytes);
    const desc = parseVmDescription(vmdesc);
    expect(desc.devices.map((d) => `${d.name}/${d.instance_id}`)).toEqual(['timer/0', 'timer/1', 'timer/2', 'dev3/0', 'dev4/0']);
    expect(desc.devices[0]?.size).toBe(4 + a.blobs[0]!.state.length);

    const loaded = await dst.destination.load(readerOf(bytes), { machine: 'none' });
    expect(loaded.status).toBe('completed');
    expect(dst.destinationStatuses).toEqual(['none', 'setup', 'active', 'completed']);
    expect(dst.runState.state).toBe(RunState.PAUSED);
    b.live.forEach((d, i) => expect(d.received?.equals(a.live[i]!.memory)).toBe(true));
    b.blobs.forEach((d, i) => expect(d.loaded?.equals(a.blobs[i]!.state)).toBe(true));
    for (const d of [...b.live, ...b.blobs]) expect(d.log.count('loadCleanup')).toBe(1);
    for (const d of [...a.live, ...a.blobs]) expect(d.log.count('saveCleanup')).toBe(1);
  });

  it('through a socket pair on 127.0.0.1, with autostart', async () => {
    const src = new World(RunState.RUNNING);
    const a = populate(src, 7);
    const dst = new World(RunState.INMIGRATE);
    const b = populate(dst, 8);
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    const [serverSide] = await accepted;
    try {
      const sending = src.source.migrateToChannel(new SocketChannel(client));
      const receiving = dst.destination.load(new QemuFileReader(new SocketChannel(serverSide)), { autostart: true, machine: 'none' });
      const [sent, received] = await Promise.all([sending, receiving]);
      expect(sent.status).toBe('completed');
      expect(received.status).toBe('completed');
      expect(received.transferredBytes).toBe(sent.transferredBytes);
    } finally {
      serverSide.destroy();
      client.destroy();
      server.close();
    }
    expect(src.sourceStatuses).toEqual(['none', 'setup', 'active', 'device', 'completed']);
    expect(dst.destinationStatuses).toEqual(['none', 'setup', 'active', 'completed']);
    expect(dst.runState.state).toBe(RunState.RUNNING);
    b.live.forEach((d, i) => expect(d.received?.equals(a.live[i]!.memory)).toBe(true));
    b.blobs.forEach((d, i) => expect(d.loaded?.equals(a.blobs[i]!.state)).toBe(true));
  });
});

/** The vmdesc JSON at the end of a stream: EOF, 0x06, be32 length, JSON. */
function vmdescOf(bytes: Buffer): string {
  for (let p = bytes.length - 5; p > 0; p--) {
    if (bytes[p] === 0x06 && bytes[p - 1] === 0x00 && bytes.readUInt32BE(p + 1) === bytes.length - p - 5) {
      return bytes.subarray(p + 5).toString('utf8');
    }
  }
  throw new Error('no vmdesc found');
}
