import { describe, expect, it } from 'vitest';
import { inspectStream } from '@savevm/inspect';
import { MemoryWriteChannel, QemuFileWriter } from '@savevm/stream';
import type { SaveStateEntryInfo } from '@savevm/core';
import { V1State } from '@savevm/vfio';
import {
  IMAGE_HEADER_SIZE,
  RECORD_HEADER_SIZE,
  TAG_DONE,
  TAG_PAGE,
  crc32,
  encodeImageHeader,
  encodeRecordHeader,
} from '@savevm/vfio/emulated';
import { VfioV1Provider } from '../src/index.js';
import { LIVE, World, saveToMemory, v1Device } from './helpers/world.js';

const ENTRY: SaveStateEntryInfo = { idstr: 'dev/vfio', instanceId: 0, versionId: 1, sectionId: 0 };

function be64(hex: string): Buffer {
  return Buffer.from(hex.replace(/\s/g, ''), 'hex');
}
const SETUP = be64('ffffffff ef100003');
const END = be64('ffffffff ef100001');
const DATA = be64('ffffffff ef100004');
function size(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Runs `body` against a fresh writer and returns what it wrote. */
async function written(body: (f: QemuFileWriter) => unknown): Promise<Buffer> {
  const channel = new MemoryWriteChannel();
  const f = new QemuFileWriter(channel);
  await body(f);
  await f.flush();
  return channel.bytes();
}

describe('v1 section bodies, byte for byte (docs/design/stream-format.md §5)', () => {
  it('START, PART with data, PART with nothing pending, END', async () => {
    // One 4 KiB page: the image is header + one page record, then (stop-and-copy) a DONE record.
    const { device, model } = v1Device({ stateSize: 4096, pageSize: 4096, v1DataSectionSize: 64 * 1024 });
    const h = new VfioV1Provider().create(device).handlers;
    const page = Buffer.from(model.stateBytes);

    // START: SETUP_STATE, END_OF_STATE; the device is now in pre-copy.
    expect(await written((f) => h.saveSetup?.(f, ENTRY))).toEqual(Buffer.concat([SETUP, END]));
    expect(model.v1State).toBe(V1State.RUNNING | V1State.SAVING);

    // The pending hooks report pending_bytes.
    const image = Buffer.concat([encodeImageHeader(4096, 4096), encodeRecordHeader(TAG_PAGE, 0, 4096), page]);
    expect(image.length).toBe(IMAGE_HEADER_SIZE + RECORD_HEADER_SIZE + 4096);
    expect(await h.statePendingEstimate?.(ENTRY)).toEqual({ mustPrecopy: image.length, canPostcopy: 0 });

    // PART with data: DATA_STATE, be64 n, n bytes, END_OF_STATE.
    expect(await written((f) => h.saveLiveIterate?.(f, ENTRY))).toEqual(Buffer.concat([DATA, size(image.length), image, END]));

    // PART with nothing pending: DATA_STATE, be64 0, END_OF_STATE.
    let done: boolean | undefined;
    expect(await written(async (f) => (done = await h.saveLiveIterate?.(f, ENTRY)))).toEqual(Buffer.concat([DATA, size(0), END]));
    expect(done).toBe(true);

    // END: stop-and-copy gives the DONE record, then END_OF_STATE; the device ends in STOP.
    const doneRecord = encodeRecordHeader(TAG_DONE, crc32(page), 4096);
    expect(await written((f) => h.saveLiveCompletePrecopy?.(f, ENTRY))).toEqual(Buffer.concat([DATA, size(RECORD_HEADER_SIZE), doneRecord, END]));
    expect(model.v1State).toBe(V1State.STOP);
    await h.saveCleanup?.(ENTRY);
  });

  it('END sends the whole image in data-section-sized chunks when nothing went in pre-copy', async () => {
    const { device, model } = v1Device({ stateSize: 8192, pageSize: 4096, v1DataSectionSize: 4096 });
    const h = new VfioV1Provider().create(device).handlers;
    await written((f) => h.saveSetup?.(f, ENTRY));
    const bytes = await written((f) => h.saveLiveCompletePrecopy?.(f, ENTRY));
    const total = IMAGE_HEADER_SIZE + 2 * (RECORD_HEADER_SIZE + 4096) + RECORD_HEADER_SIZE;
    // ceil(total / 4096) chunks of at most 4096 bytes, each DATA_STATE + be64 n + n bytes.
    const chunks = Math.ceil(total / 4096);
    expect(bytes.length).toBe(chunks * 16 + total + 8);
    let at = 0;
    let payload = 0;
    for (let i = 0; i < chunks; i++) {
      expect(bytes.subarray(at, at + 8)).toEqual(DATA);
      const n = Number(bytes.readBigUInt64BE(at + 8));
      expect(n).toBe(Math.min(4096, total - payload));
      payload += n;
      at += 16 + n;
    }
    expect(bytes.subarray(at)).toEqual(END);
    expect(model.v1State).toBe(V1State.STOP);
  });

  it('a whole migration is decoded by inspectStream as vfio sections', async () => {
    const world = new World();
    const { device } = v1Device({ name: '0000:00:03.0' });
    await world.attacher.attach(device, device.name);
    const { bytes } = await saveToMemory(world, LIVE);
    const inspection = await inspectStream(bytes);
    const vfio = inspection.records.filter((r) => r.decoding === 'vfio');
    expect(vfio.length).toBeGreaterThanOrEqual(3);
    expect(vfio[0]?.vfio?.tags).toEqual(['SETUP_STATE', 'END_OF_STATE']);
    const last = vfio[vfio.length - 1];
    expect(last?.vfio?.tags.at(-1)).toBe('END_OF_STATE');
    for (const part of vfio.slice(1, -1)) expect(part.vfio?.tags[0]).toMatch(/^DATA_STATE\(\d+\)$/);
    const dataBytes = vfio.reduce((sum, r) => sum + (r.vfio?.dataBytes ?? 0), 0);
    expect(dataBytes).toBeGreaterThanOrEqual(64 * 1024);
    expect(inspection.warnings).toEqual([]);
  });
});
