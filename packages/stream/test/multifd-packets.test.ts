/**
 * QEMU's multifd packets (docs/design/multifd.md §2–§3): the initial packet as a real QEMU
 * 7.2 and 10.0 sent it (bytes from the capture, not from our encoder), the RAM and
 * device-state packet layouts from QEMU's struct tables, and codec round trips as properties.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  MULTIFD_DEVICE_STATE_PACKET_SIZE,
  MULTIFD_RAM_PACKET_SIZE,
  MultifdPacketError,
  decodeDeviceStatePacket,
  decodeMultifdInit,
  decodeRamPacket,
  encodeDeviceStatePacket,
  encodeMultifdInit,
  encodeRamPacket,
  formatUuid,
  parseUuid,
  readMultifdHeader,
} from '../src/multifd/index.js';

const UUID = '11223344-5566-7788-99aa-bbccddeeff00';

describe('the initial packet', () => {
  it('is byte for byte what QEMU 7.2 and 10.0 send: 11223344 00000001 <uuid> <id> and 39 zero bytes', () => {
    const captured = Buffer.from(`1122334400000001${UUID.replace(/-/g, '')}01${'00'.repeat(39)}`, 'hex');
    expect(captured.length).toBe(64);
    expect(encodeMultifdInit({ uuid: parseUuid(UUID), channelId: 1 })).toEqual(captured);
    const decoded = decodeMultifdInit(captured);
    expect(decoded.channelId).toBe(1);
    expect(formatUuid(decoded.uuid)).toBe(UUID);
  });

  it('refuses a wrong magic and a wrong version in QEMU words', () => {
    const bytes = encodeMultifdInit({ uuid: new Uint8Array(16), channelId: 0 });
    bytes.writeUInt32BE(0x51455649, 0);
    expect(() => decodeMultifdInit(bytes)).toThrow('multifd: received packet magic 51455649 expected 11223344');
    const v = encodeMultifdInit({ uuid: new Uint8Array(16), channelId: 0 });
    v.writeUInt32BE(2, 4);
    expect(() => decodeMultifdInit(v)).toThrow(MultifdPacketError);
    expect(() => decodeMultifdInit(v)).toThrow('multifd: received packet version 2 expected 1');
  });

  it('parses uuids as -uuid takes them and refuses anything else', () => {
    expect(formatUuid(parseUuid(UUID.replace(/-/g, '')))).toBe(UUID);
    expect(() => parseUuid('not-a-uuid')).toThrow(RangeError);
  });
});

describe('the RAM packet', () => {
  it('lays out as QEMU 10.0 MultiFDPacket_t: 1344 bytes, counts at 12/16/20, packet_num at 24, zero_pages at 32, name at 64, offsets at 320', () => {
    const b = encodeRamPacket({ flags: 0, pagesAlloc: 128, normalPages: 15, zeroPages: 2, nextPacketSize: 61440, packetNum: 9n, ramBlock: 'ram', offsets: [...Array(15).keys(), 100, 101].map((p) => p * 4096) });
    expect(b.length).toBe(MULTIFD_RAM_PACKET_SIZE);
    expect(b.subarray(0, 12).toString('hex')).toBe('112233440000000100000000');
    expect(b.readUInt32BE(12)).toBe(128);
    expect(b.readUInt32BE(16)).toBe(15);
    expect(b.readUInt32BE(20)).toBe(61440);
    expect(b.readBigUInt64BE(24)).toBe(9n);
    expect(b.readUInt32BE(32)).toBe(2);
    expect(b.subarray(64, 68).toString('latin1')).toBe('ram\0');
    expect(b.readBigUInt64BE(320 + 8 * 15)).toBe(100n * 4096n);
    expect(b.subarray(320 + 8 * 17).every((x) => x === 0)).toBe(true);
  });

  it('a QEMU 10.0 SYNC packet has no slots and no pages', () => {
    const b = encodeRamPacket({ flags: 1, pagesAlloc: 0, normalPages: 0, zeroPages: 0, nextPacketSize: 0, packetNum: 0n, ramBlock: '', offsets: [] });
    expect(readMultifdHeader(b, 0, 0)).toBe(1);
    expect(b.subarray(12).every((x) => x === 0)).toBe(true);
  });

  it('reads a 7.2 packet without zero_pages when told', () => {
    const b = encodeRamPacket({ flags: 0, pagesAlloc: 128, normalPages: 1, zeroPages: 0, nextPacketSize: 4096, packetNum: 1n, ramBlock: 'ram', offsets: [0] });
    b.writeUInt32BE(5, 32); // padding in 7.2
    expect(decodeRamPacket(b, 0, { zeroPagesField: false }).zeroPages).toBe(0);
  });

  test.prop([
    fc.nat({ max: 128 }).chain((n) =>
      fc.record({
        normal: fc.constant(n),
        zero: fc.nat({ max: 128 - n }),
        packetNum: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        block: fc.string({ unit: 'grapheme-ascii', minLength: 0, maxLength: 255 }).filter((s) => !s.includes('\0')),
        sync: fc.boolean(),
        offsets: fc.array(fc.nat({ max: 2 ** 40 }), { minLength: 256, maxLength: 256 }),
      }),
    ),
  ])('decode(encode(p)) is p', ({ normal, zero, packetNum, block, sync, offsets }) => {
    const p = { flags: sync ? 1 : 0, pagesAlloc: 128, normalPages: normal, zeroPages: zero, nextPacketSize: normal * 4096, packetNum, ramBlock: block, offsets: offsets.slice(0, normal + zero).map((o) => o * 4096) };
    expect(decodeRamPacket(encodeRamPacket(p), 0)).toEqual(p);
  });

  test.prop([fc.uint8Array({ minLength: MULTIFD_RAM_PACKET_SIZE, maxLength: MULTIFD_RAM_PACKET_SIZE })])('any 1344 bytes decode or are refused with a MultifdPacketError', (bytes) => {
    const b = Buffer.from(bytes);
    try {
      const p = decodeRamPacket(b, 0);
      expect(p.normalPages + p.zeroPages).toBeLessThanOrEqual(128);
    } catch (err) {
      expect(err).toBeInstanceOf(MultifdPacketError);
    }
  });
});

describe('the device-state packet', () => {
  it('lays out as MultiFDPacketDeviceState_t: 276 bytes, flags 0x40, idstr at 12, instance at 268, size at 272', () => {
    const b = encodeDeviceStatePacket({ idstr: '0000:00:03.0/vfio', instanceId: 2, size: 1 << 20 });
    expect(b.length).toBe(MULTIFD_DEVICE_STATE_PACKET_SIZE);
    expect(b.subarray(0, 12).toString('hex')).toBe('112233440000000100000040');
    expect(b.toString('latin1', 12, 29)).toBe('0000:00:03.0/vfio');
    expect(b[29]).toBe(0);
    expect(b.readUInt32BE(268)).toBe(2);
    expect(b.readUInt32BE(272)).toBe(1 << 20);
  });

  test.prop([fc.string({ unit: 'grapheme-ascii', maxLength: 255 }).filter((s) => !s.includes('\0')), fc.nat(), fc.integer({ min: 1, max: 0xffffffff })])(
    'decode(encode(p)) is p',
    (idstr, instanceId, size) => {
      expect(decodeDeviceStatePacket(encodeDeviceStatePacket({ idstr, instanceId, size }), 0)).toEqual({ idstr, instanceId, size });
    },
  );
});
