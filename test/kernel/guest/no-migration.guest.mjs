// no-migration.guest.mjs — a device without migration support (the mdpy display sample, created
// by /init as fixture "mdpy"): GET MIGRATION answers ENOTTY (v2 absent), and no region carries a
// capability chain, so there is no v1 migration region (type 3 / subtype 1) either.
import assert from 'node:assert/strict';
import { Errno, VfioDeviceFlags, VfioRegionFlags, VfioV1Region, openVfioDevice } from '@savevm/vfio';

export async function mdpyHasNoV2Migration(t) {
  assert.ok(t.fixture.mdpy, `fixture mdpy missing: ${t.fixture.error ?? ''}`);
  assert.equal(t.fixture.mdpy.type, 'mdpy-vga');
  const device = openVfioDevice({ mdevUuid: t.fixture.mdpy.uuid }, { via: 'group' });
  t.defer(() => device.close());
  assert.throws(() => device.getMigrationFlags(), (e) => e.errnoNumber === Errno.ENOTTY && e.errno === 'ENOTTY', 'GET MIGRATION: ENOTTY');
  assert.equal(device.probeMigrationFlags(), undefined, 'probe: not v2-migratable');
  assert.throws(() => device.getState(), { errno: 'ENOTTY' }, 'GET MIG_DEVICE_STATE: ENOTTY');
}

export async function mdpyHasNoV1MigrationRegion(t) {
  const device = openVfioDevice({ mdevUuid: t.fixture.mdpy.uuid }, { via: 'cdev' });
  t.defer(() => device.close());
  const info = device.getInfo();
  assert.ok((info.flags & VfioDeviceFlags.PCI) !== 0);
  assert.equal(info.numRegions, 9);
  const lines = [];
  for (let index = 0; index < info.numRegions; index++) {
    const region = device.getRegionInfo(index);
    lines.push(`region ${index}: size ${region.size}, flags 0x${region.flags.toString(16)}, ${region.capabilities.length} caps`);
    assert.equal(region.flags & VfioRegionFlags.CAPS, 0, `region ${index} has no capability chain`);
    assert.equal(region.capabilities.length, 0);
  }
  t.log(lines.join('; '));
  assert.equal(device.getRegionInfo(0).size, 2 * 1024 * 1024, 'region 0 is the 2 MiB framebuffer');
  assert.equal(device.findRegionByType(VfioV1Region.TYPE, VfioV1Region.SUBTYPE), undefined, 'no v1 migration region');
}
