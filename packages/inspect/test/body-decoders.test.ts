// The body decoders are written once, as generators, and run two ways: synchronously over
// the bytes in memory (inspectStream) and over a QemuFileReader (decodeDeviceBody and the
// other exported functions). Both must read the same bytes the same way (issue 17 item 10).
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { MemoryReadChannel, QemuFileReader, StreamError, StreamTruncatedError, type VmdescDevice, type VmdescField } from '@savevm/stream';
import { MemoryBodySource, decodeInMemory } from '../src/body-source.js';
import { DecodeBudget, decodeDeviceBody, decodeRamBody, decodeVfioBody, inspectStream } from '../src/index.js';
import { VmdescIndex } from '../src/vmdesc-index.js';
import { decodeFields, decodeFlatDeviceBody, deviceBodyDecoder } from '../src/vmstate-body.js';
import { ALL_VECTORS, vectorBytes } from './fixtures/vectors.js';

/** A reader whose channel hands out at most `chunk` bytes per read (so decoders wait for more). */
function trickleReader(bytes: Uint8Array, start: number, chunk: number): QemuFileReader {
  const rest = bytes.subarray(start);
  let at = 0;
  return new QemuFileReader(
    {
      read: (into) => {
        const n = Math.min(chunk, into.length, rest.length - at);
        into.set(rest.subarray(at, at + n));
        at += n;
        return Promise.resolve(n);
      },
      close: async () => undefined,
      shutdown: () => undefined,
    },
    { startOffset: start, lookAheadBytes: 512 },
  );
}

describe('body decoders in memory and over a reader', () => {
  for (const [version, name] of ALL_VECTORS) {
    it(`agree on every decoded section of ${version}/${name}`, async () => {
      const bytes = vectorBytes(name, version);
      const { records, vmdesc } = await inspectStream(bytes);
      let lastRamBlock: string | undefined;
      let decoded = 0;
      for (const item of records) {
        const r = item.record;
        if (!('bodyOffset' in r) || item.decoding === 'footer-scan') continue;
        const reader = trickleReader(bytes, r.bodyOffset, 7);
        let value: unknown;
        if (item.decoding === 'vmdesc') {
          const device = vmdesc?.devices.find((d) => d.name === r.idstr && d.instance_id === r.instanceId) as VmdescDevice;
          value = await decodeDeviceBody(reader, device);
          expect(value).toEqual(item.fields);
        } else if (item.decoding === 'ram') {
          value = await decodeRamBody(reader, vmdesc?.page_size ?? 4096, lastRamBlock);
          expect(value).toEqual(item.ram);
          lastRamBlock = item.ram?.lastBlock;
        } else {
          value = await decodeVfioBody(reader);
          expect(value).toEqual(item.vfio);
        }
        expect(reader.offset - r.bodyOffset).toBe(item.bodySize);
        decoded++;
      }
      expect(decoded).toBeGreaterThan(0);
    });
  }

  it('report a truncated body over a reader, and give the depth of a shared budget back', async () => {
    const nested = { name: 'outer', type: 'struct', size: 4, struct: { vmsd_name: 'inner', version: 1, fields: [{ name: 'x', type: 'uint32', size: 4 }] } };
    const budget = new DecodeBudget(100, 1);
    const cut = trickleReader(Buffer.from([0, 0, 1]), 0, 1);
    await expect(decodeFields(cut, [nested], budget)).rejects.toThrow(StreamTruncatedError);
    // The failure left the budget one level deep again: the same nesting still fits.
    const whole = trickleReader(Buffer.from([0, 0, 1, 2]), 0, 1);
    const [field] = await decodeFields(whole, [nested], budget);
    expect(field?.value).toEqual({ vmsdName: 'inner', fields: [{ name: 'x', type: 'uint32', offset: 0, size: 4, value: 0x102 }], subsections: [] });
  });

  it('read a bool as one byte of its size, as before', async () => {
    const reader = new QemuFileReader(new MemoryReadChannel(Buffer.from([1, 0, 0, 0, 7])));
    const fields = await decodeFields(reader, [
      { name: 'b', type: 'bool', size: 4 },
      { name: 'c', type: 'uint8', size: 1 },
    ]);
    expect(fields.map((f) => [f.value, f.size])).toEqual([
      [true, 1],
      [0, 1],
    ]);
    const short = new QemuFileReader(new MemoryReadChannel(Buffer.from([1, 0])));
    await expect(decodeFields(short, [{ name: 'b', type: 'bool', size: 4 }])).rejects.toThrow(/field b/);
  });
});

describe('decodeFlatDeviceBody', () => {
  const field: fc.Arbitrary<VmdescField> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ name: fc.constantFrom('a', 'b'), type: fc.constantFrom('uint8', 'int16', 'uint32', 'int64', 'uint64', 'buffer', 'int32_le', 'bool', 'unused_buffer'), size: fc.constantFrom(0, 1, 2, 3, 4, 8, 16) }) },
    { weight: 1, arbitrary: fc.record({ name: fc.constant('arr'), type: fc.constant('uint8'), size: fc.constant(1), array_len: fc.nat(3) }) },
    { weight: 1, arbitrary: fc.constant<VmdescField>({ name: 's', type: 'struct', size: 2, struct: { vmsd_name: 'in', version: 0, fields: [{ name: 'x', type: 'uint16', size: 2 }] } }) },
  );
  const device: fc.Arbitrary<VmdescDevice> = fc.oneof(
    fc.tuple(fc.boolean(), fc.array(field, { maxLength: 5 })).map(([named, fields]): VmdescDevice => ({ name: 'dev', instance_id: 0, ...(named ? { vmsd_name: 'vmsd' } : {}), fields })),
    fc.nat(24).map((size): VmdescDevice => ({ name: 'old', instance_id: 0, size })),
    fc.tuple(fc.boolean(), fc.array(field, { maxLength: 2 })).map(([sent, fields]): VmdescDevice => ({ name: 'sub', instance_id: 0, fields, subsections: sent ? [{ vmsd_name: 'sub/x', version: 1, fields: [] }] : [] })),
  );

  test.prop([device, fc.uint8Array({ maxLength: 48 }), fc.nat(8)], { numRuns: 500 })('gives what the generators give for a flat entry, and leaves the others to them', (d, body, start) => {
    const bytes = Buffer.concat([Buffer.alloc(start, 0xee), Buffer.from(body)]);
    const flat = decodeFlatDeviceBody(bytes, start, d);
    const source = new MemoryBodySource(bytes, start);
    let slow: unknown;
    try {
      slow = decodeInMemory(deviceBodyDecoder(source, d));
    } catch (err) {
      if (!(err instanceof StreamError)) throw err;
      slow = null;
    }
    if (flat === undefined) {
      expect(d.subsections?.length || d.fields?.some((f) => f.array_len !== undefined || f.struct !== undefined || (f.type === 'bool' && [1, 2, 4, 8].includes(f.size)))).toBeTruthy();
      return;
    }
    if (flat === null) {
      expect(slow).toBeNull();
    } else {
      expect(flat).toEqual(slow);
      const last = flat.fields.at(-1);
      expect(last === undefined ? start : last.offset + last.size).toBe(source.offset);
    }
  });
});

describe('VmdescIndex', () => {
  const entry = (name: string, instance: number, size = 1): VmdescDevice => ({ name, instance_id: instance, size });

  it('takes the entries in section order, and finds one out of order by idstr and instance', () => {
    const devices = [entry('a', 0), entry('b', 0), entry('b', 1), entry('c', 0)];
    const index = new VmdescIndex({ page_size: 4096, devices });
    expect(index.find('a', 0)).toBe(devices[0]);
    expect(index.find('b', 0)).toBe(devices[1]);
    expect(index.find('c', 0)).toBe(devices[3]);
    expect(index.find('b', 1)).toBe(devices[2]);
    // After an out-of-order find, the next guess is the entry after it.
    expect(index.find('c', 0)).toBe(devices[3]);
    expect(index.find('b', 2)).toBeUndefined();
    expect(index.find('ram', 0)).toBeUndefined();
    expect(new VmdescIndex(undefined).find('a', 0)).toBeUndefined();
  });

  it('gives a FULL section named twice the entry at its own position, and the last entry otherwise', () => {
    const devices = [entry('a', 0, 1), entry('b', 0), entry('a', 0, 2)];
    const inOrder = new VmdescIndex({ page_size: 4096, devices });
    expect([inOrder.find('a', 0), inOrder.find('b', 0), inOrder.find('a', 0)]).toEqual([devices[0], devices[1], devices[2]]);
    const outOfOrder = new VmdescIndex({ page_size: 4096, devices });
    expect(outOfOrder.find('b', 0)).toBe(devices[1]);
    expect(outOfOrder.find('x', 0)).toBeUndefined();
    expect(outOfOrder.find('a', 0)).toBe(devices[2]);
  });
});
