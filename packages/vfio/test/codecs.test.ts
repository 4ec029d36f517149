import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import {
  DeviceMigrationInfoV1,
  DmaLoggingControl,
  DmaLoggingRange,
  DmaLoggingReport,
  PrecopyInfo,
  VfioIoctl,
  VfioFeature,
  VfioFeatureFlags,
  VfioMigrationFlags,
  MigState,
  V1State,
  encodeDeviceFeature,
  CapabilityChainError,
  isValidV1State,
  isV1ErrorState,
  type StructCodec,
} from '../src/index.js';
import { encodeCapabilityChain, parseCapabilityChain } from '../src/uapi/capabilities.js';
import {
  DeviceAttachIommufdPt,
  DeviceBindIommufd,
  DeviceFeatureHeader,
  DeviceInfo,
  FeatureMigDataSize,
  FeatureMigration,
  FeatureMigState,
  GroupStatus,
  InfoCapHeader,
  RegionInfo,
  RegionInfoCapSparseMmapHead,
  RegionInfoCapType,
  SparseMmapArea,
} from '../src/uapi/structs.js';

/** Field offsets and sizes, written from the tables of docs/design/vfio-uapi.md §2 / §7.2 / §1 (not from the code). */
const SPEC_LAYOUTS: ReadonlyArray<[StructCodec<never>, number, ReadonlyArray<[string, number, number]>]> = [
  [FeatureMigration as StructCodec<never>, 8, [['flags', 0, 8]]],
  [FeatureMigState as StructCodec<never>, 8, [['device_state', 0, 4], ['data_fd', 4, 4]]],
  [FeatureMigDataSize as StructCodec<never>, 8, [['stop_copy_length', 0, 8]]],
  [PrecopyInfo as StructCodec<never>, 24, [['argsz', 0, 4], ['flags', 4, 4], ['initial_bytes', 8, 8], ['dirty_bytes', 16, 8]]],
  [DmaLoggingControl as StructCodec<never>, 24, [['page_size', 0, 8], ['num_ranges', 8, 4], ['__reserved', 12, 4], ['ranges', 16, 8]]],
  [DmaLoggingRange as StructCodec<never>, 16, [['iova', 0, 8], ['length', 8, 8]]],
  [DmaLoggingReport as StructCodec<never>, 32, [['iova', 0, 8], ['length', 8, 8], ['page_size', 16, 8], ['bitmap', 24, 8]]],
  [DeviceInfo as StructCodec<never>, 24, [['argsz', 0, 4], ['flags', 4, 4], ['num_regions', 8, 4], ['num_irqs', 12, 4], ['cap_offset', 16, 4], ['pad', 20, 4]]],
  [RegionInfo as StructCodec<never>, 32, [['argsz', 0, 4], ['flags', 4, 4], ['index', 8, 4], ['cap_offset', 12, 4], ['size', 16, 8], ['offset', 24, 8]]],
  [InfoCapHeader as StructCodec<never>, 8, [['id', 0, 2], ['version', 2, 2], ['next', 4, 4]]],
  [RegionInfoCapType as StructCodec<never>, 16, [['id', 0, 2], ['version', 2, 2], ['next', 4, 4], ['type', 8, 4], ['subtype', 12, 4]]],
  [RegionInfoCapSparseMmapHead as StructCodec<never>, 16, [['id', 0, 2], ['version', 2, 2], ['next', 4, 4], ['nr_areas', 8, 4], ['reserved', 12, 4]]],
  [SparseMmapArea as StructCodec<never>, 16, [['offset', 0, 8], ['size', 8, 8]]],
  [DeviceFeatureHeader as StructCodec<never>, 8, [['argsz', 0, 4], ['flags', 4, 4]]],
  [GroupStatus as StructCodec<never>, 8, [['argsz', 0, 4], ['flags', 4, 4]]],
  [DeviceBindIommufd as StructCodec<never>, 24, [['argsz', 0, 4], ['flags', 4, 4], ['iommufd', 8, 4], ['out_devid', 12, 4], ['token_uuid_ptr', 16, 8]]],
  [DeviceAttachIommufdPt as StructCodec<never>, 16, [['argsz', 0, 4], ['flags', 4, 4], ['pt_id', 8, 4], ['pasid', 12, 4]]],
  [DeviceMigrationInfoV1 as StructCodec<never>, 32, [['device_state', 0, 4], ['reserved', 4, 4], ['pending_bytes', 8, 8], ['data_offset', 16, 8], ['data_size', 24, 8]]],
];

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('uAPI constants (vfio-uapi.md §1)', () => {
  it('ioctl numbers are _IO(";", 100 + k)', () => {
    expect(VfioIoctl.GET_API_VERSION).toBe(0x3b64);
    expect(VfioIoctl.CHECK_EXTENSION).toBe(0x3b65);
    expect(VfioIoctl.SET_IOMMU).toBe(0x3b66);
    expect(VfioIoctl.GROUP_GET_STATUS).toBe(0x3b67);
    expect(VfioIoctl.GROUP_SET_CONTAINER).toBe(0x3b68);
    expect(VfioIoctl.GROUP_GET_DEVICE_FD).toBe(0x3b6a);
    expect(VfioIoctl.DEVICE_GET_INFO).toBe(0x3b6b);
    expect(VfioIoctl.DEVICE_GET_REGION_INFO).toBe(0x3b6c);
    expect(VfioIoctl.DEVICE_RESET).toBe(0x3b6f);
    expect(VfioIoctl.DEVICE_FEATURE).toBe(0x3b75);
    expect(VfioIoctl.DEVICE_BIND_IOMMUFD).toBe(0x3b76);
    expect(VfioIoctl.MIG_GET_PRECOPY_INFO).toBe(0x3b79);
  });
  it('feature flags, migration flags, states, v1 bits', () => {
    expect([VfioFeatureFlags.MASK, VfioFeatureFlags.GET, VfioFeatureFlags.SET, VfioFeatureFlags.PROBE]).toEqual([0xffff, 0x10000, 0x20000, 0x40000]);
    expect([VfioFeature.MIGRATION, VfioFeature.MIG_DEVICE_STATE, VfioFeature.MIG_DATA_SIZE]).toEqual([1, 2, 9]);
    expect([VfioMigrationFlags.STOP_COPY, VfioMigrationFlags.P2P, VfioMigrationFlags.PRE_COPY]).toEqual([1, 2, 4]);
    expect(MigState).toEqual({ ERROR: 0, STOP: 1, RUNNING: 2, STOP_COPY: 3, RESUMING: 4, RUNNING_P2P: 5, PRE_COPY: 6, PRE_COPY_P2P: 7 });
    expect([V1State.RUNNING, V1State.SAVING, V1State.RESUMING, V1State.MASK]).toEqual([1, 2, 4, 7]);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(isValidV1State)).toEqual([true, true, true, true, true, false, false, false]);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 14].map(isV1ErrorState)).toEqual([false, false, false, false, false, false, true, false, true]);
  });
});

describe('struct layouts match the tables of vfio-uapi.md', () => {
  for (const [codec, size, fields] of SPEC_LAYOUTS) {
    it(`${codec.name}: ${size} bytes`, () => {
      expect(codec.size).toBe(size);
      expect(codec.fields.map((f) => [f.name, f.offset, f.kind === 'u64' ? 8 : f.kind === 'u16' ? 2 : 4])).toEqual(fields);
      // Each field, set alone to all-ones, lands exactly on its bytes.
      for (const [name, offset, width] of fields) {
        const value: Record<string, number | bigint> = {};
        for (const [other, , w] of fields) value[other] = w === 8 ? 0n : 0;
        value[name] = width === 8 ? 0xffffffffffffffffn : width === 4 ? (codec.fields.find((f) => f.name === name)?.kind === 's32' ? -1 : 0xffffffff) : 0xffff;
        const bytes = codec.encode(value as never);
        const expected = new Uint8Array(size);
        expected.fill(0xff, offset, offset + width);
        expect(hex(bytes), name).toBe(hex(expected));
      }
    });
  }
});

describe('hand-written expected bytes', () => {
  it('SET MIG_DEVICE_STATE → STOP_COPY, data_fd −1', () => {
    const payload = FeatureMigState.encode({ device_state: MigState.STOP_COPY, data_fd: -1 });
    const buf = encodeDeviceFeature(VfioFeatureFlags.SET | VfioFeature.MIG_DEVICE_STATE, payload);
    expect(hex(buf)).toBe('10000000' + '02000200' + '03000000' + 'ffffffff');
  });
  it('GET MIGRATION buffer is argsz 16', () => {
    const buf = encodeDeviceFeature(VfioFeatureFlags.GET | VfioFeature.MIGRATION, 8);
    expect(hex(buf)).toBe('10000000' + '01000100' + '0000000000000000');
  });
  it('vfio_precopy_info little-endian u64s', () => {
    const bytes = PrecopyInfo.encode({ argsz: 24, flags: 1, initial_bytes: 0x0102030405060708n, dirty_bytes: 24n });
    expect(hex(bytes)).toBe('18000000' + '01000000' + '0807060504030201' + '1800000000000000');
  });
  it('vfio_region_info for region 9 at 9<<40', () => {
    const bytes = RegionInfo.encode({ argsz: 80, flags: 0xb, index: 9, cap_offset: 32, size: 0x11000n, offset: 9n << 40n });
    expect(hex(bytes)).toBe('50000000' + '0b000000' + '09000000' + '20000000' + '0010010000000000' + '0000000000090000');
  });
  it('vfio_device_migration_info', () => {
    const bytes = DeviceMigrationInfoV1.encode({ device_state: 3, reserved: 0, pending_bytes: 100n, data_offset: 4096n, data_size: 7n });
    expect(hex(bytes)).toBe('03000000' + '00000000' + '6400000000000000' + '0010000000000000' + '0700000000000000');
  });
  it('decode rejects short buffers', () => {
    expect(() => RegionInfo.decode(new Uint8Array(31))).toThrow(RangeError);
  });
});

describe('capability chains', () => {
  it('encodes type + sparse-mmap with next offsets from the info start', () => {
    const chain = encodeCapabilityChain(
      [
        { kind: 'sparse-mmap', version: 1, areas: [{ offset: 4096n, size: 8192n }] },
        { kind: 'type', version: 1, type: 3, subtype: 1 },
      ],
      32,
    );
    expect(hex(chain)).toBe(
      '0100' + '0100' + '40000000' + '01000000' + '00000000' + '0010000000000000' + '0020000000000000' +
        '0200' + '0100' + '00000000' + '03000000' + '01000000',
    );
    const info = new Uint8Array(32 + chain.byteLength);
    info.set(chain, 32);
    expect(parseCapabilityChain(info, 32)).toEqual([
      { kind: 'sparse-mmap', version: 1, areas: [{ offset: 4096n, size: 8192n }] },
      { kind: 'type', version: 1, type: 3, subtype: 1 },
    ]);
  });
  it('rejects loops, out-of-bounds offsets and oversized area counts', () => {
    const info = new Uint8Array(64);
    InfoCapHeader.encode({ id: 99, version: 1, next: 32 }, info, 32);
    expect(() => parseCapabilityChain(info, 32)).toThrow(CapabilityChainError);
    expect(() => parseCapabilityChain(info, 60)).toThrow(CapabilityChainError);
    RegionInfoCapSparseMmapHead.encode({ id: 1, version: 1, next: 0, nr_areas: 0xffffffff, reserved: 0 }, info, 32);
    expect(() => parseCapabilityChain(info, 32)).toThrow(/claims 4294967295 areas/);
  });
  fcTest.prop([
    fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant('type' as const), version: fc.nat(0xffff), type: fc.nat(0xffffffff), subtype: fc.nat(0xffffffff) }),
        fc.record({
          kind: fc.constant('sparse-mmap' as const),
          version: fc.nat(0xffff),
          areas: fc.array(fc.record({ offset: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), size: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }), { maxLength: 4 }),
        }),
      ),
      { minLength: 1, maxLength: 5 },
    ),
  ])('chain round trip', (caps) => {
    const chain = encodeCapabilityChain(caps, 32);
    const info = new Uint8Array(32 + chain.byteLength);
    info.set(chain, 32);
    expect(parseCapabilityChain(info, 32)).toEqual(caps);
  });
});

describe('codec round trips (property)', () => {
  const u32 = fc.nat(0xffffffff);
  const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  fcTest.prop([u32, u32, u32, u32, u64, u64])('vfio_region_info', (argsz, flags, index, cap_offset, size, offset) => {
    const value = { argsz, flags, index, cap_offset, size, offset };
    expect(RegionInfo.decode(RegionInfo.encode(value))).toEqual(value);
  });
  fcTest.prop([u32, fc.integer({ min: -2147483648, max: 2147483647 })])('mig_state', (device_state, data_fd) => {
    expect(FeatureMigState.decode(FeatureMigState.encode({ device_state, data_fd }))).toEqual({ device_state, data_fd });
  });
  fcTest.prop([u32, u32, u64, u64, u64])('vfio_device_migration_info', (device_state, reserved, pending_bytes, data_offset, data_size) => {
    const value = { device_state, reserved, pending_bytes, data_offset, data_size };
    const bytes = DeviceMigrationInfoV1.encode(value);
    expect(bytes.byteLength).toBe(32);
    expect(DeviceMigrationInfoV1.decode(bytes)).toEqual(value);
  });
  fcTest.prop([u32, u32, u64, u64, fc.nat(64)])('precopy_info at an offset', (argsz, flags, initial_bytes, dirty_bytes, at) => {
    const value = { argsz, flags, initial_bytes, dirty_bytes };
    const target = new Uint8Array(at + 24);
    PrecopyInfo.encode(value, target, at);
    expect(PrecopyInfo.decode(target, at)).toEqual(value);
  });
});
