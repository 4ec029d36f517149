// mtty-device.guest.mjs — the mtty mdevs through @savevm/vfio on the real kernel: the fixture
// devices /init created through sysfs (two mtty-2, one mtty-1), sysfs create errors, opening
// through group+container and through the iommufd cdev, GET MIGRATION flags, device and region
// info, and BAR0 loopback. Facts checked: test/kernel/README.md, "The kernel, mtty and mdpy".
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import {
  IommufdContext,
  MigState,
  VfioContainer,
  VfioDeviceFlags,
  VfioMigrationFlags,
  locateVfioDevice,
  openVfioDevice,
} from '@savevm/vfio';
import { availableInstances, mdevTypeDir } from './lib/mdev.mjs';
import { UART_LCR, UART_SCR, readReg, receiveAll, transmit, writeReg } from './lib/uart.mjs';

const MTTY_FLAGS = VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P | VfioMigrationFlags.PRE_COPY;

export async function fixtureMdevsExist(t) {
  assert.ok(!t.fixture.error, `fixture: ${t.fixture.error}`);
  const { mtty2a, mtty2b, mtty1 } = t.fixture;
  assert.equal(mtty2a.type, 'mtty-2');
  assert.equal(mtty2b.type, 'mtty-2');
  assert.equal(mtty1.type, 'mtty-1');
  const groups = new Set([mtty2a.group, mtty2b.group, mtty1.group]);
  assert.equal(groups.size, 3, 'each mdev has its own emulated IOMMU group');
  for (const m of [mtty2a, mtty2b, mtty1]) {
    assert.match(m.cdev, /^vfio\d+$/, `${m.uuid} has a vfio cdev`);
    const loc = locateVfioDevice({ mdevUuid: m.uuid });
    assert.equal(loc.group, m.group);
    assert.equal(loc.cdev, m.cdev);
  }
  t.log(`groups ${[...groups].join(',')}; mtty-2 available ${availableInstances('mtty-2')}, mtty-1 available ${availableInstances('mtty-1')}`);
}

export async function sysfsCreateErrors(t) {
  const { mtty2a } = t.fixture;
  const create = (value) => () => writeFileSync(`${mdevTypeDir('mtty-2')}/create`, value);
  assert.throws(create(mtty2a.uuid), { code: 'EEXIST' }, 'a duplicate uuid is EEXIST');
  assert.throws(create('not-a-uuid'), { code: 'EINVAL' }, 'a non-uuid is EINVAL');
  const before = availableInstances('mtty-1');
  const m = t.createMdev('mtty-1');
  assert.equal(availableInstances('mtty-1'), before - 1);
  await t.removeMdev(m.uuid);
  assert.equal(availableInstances('mtty-1'), before);
}

export async function openThroughGroupAndCdev(t) {
  const { mtty2a, mtty2b, mtty1 } = t.fixture;
  const container = VfioContainer.open();
  t.defer(() => container.close());
  const viaGroup = container.openDevice(locateVfioDevice({ mdevUuid: mtty2a.uuid }));
  const iommufd = IommufdContext.open();
  t.defer(() => iommufd.close());
  const viaCdev = iommufd.openDevice(locateVfioDevice({ mdevUuid: mtty2b.uuid }));
  const one = openVfioDevice({ mdevUuid: mtty1.uuid }, { via: 'group' });
  t.defer(() => one.close());
  for (const [label, device, size] of [['group', viaGroup, 96], ['cdev', viaCdev, 96], ['mtty-1', one, 60]]) {
    assert.equal(device.getMigrationFlags(), MTTY_FLAGS, `${label}: GET MIGRATION = STOP_COPY|P2P|PRE_COPY (0x7)`);
    assert.equal(device.probeMigrationFlags(), MTTY_FLAGS);
    assert.equal(device.getState(), MigState.RUNNING, `${label}: starts RUNNING`);
    assert.equal(device.getStopCopySize(), size, `${label}: MIG_DATA_SIZE`);
  }
}

export async function deviceAndRegionInfo(t) {
  const device = openVfioDevice({ mdevUuid: t.fixture.mtty2a.uuid }, { via: 'cdev' });
  t.defer(() => device.close());
  const info = device.getInfo();
  assert.ok((info.flags & VfioDeviceFlags.PCI) !== 0, `PCI flag set (flags 0x${info.flags.toString(16)})`);
  assert.equal(info.numRegions, 9);
  assert.equal(info.numIrqs, 5);
  const bar0 = device.getRegionInfo(0);
  const bar1 = device.getRegionInfo(1);
  assert.deepEqual({ size: bar0.size, offset: bar0.offset, flags: bar0.flags }, { size: 8, offset: 0, flags: 0x3 });
  assert.deepEqual({ size: bar1.size, offset: bar1.offset, flags: bar1.flags }, { size: 8, offset: 2 ** 40, flags: 0x3 });
  t.log(`flags 0x${info.flags.toString(16)}, ${info.numRegions} regions, ${info.numIrqs} irqs`);
}

export async function bar0Loopback(t) {
  const device = openVfioDevice({ mdevUuid: t.fixture.mtty2b.uuid }, { via: 'group' });
  t.defer(() => device.close());
  receiveAll(device, 0); // drain anything a previous run left
  transmit(device, 0, 'MIGRATE!');
  assert.equal(receiveAll(device, 0), 'MIGRATE!', 'BAR0 TX → loopback FIFO → RX');
  assert.equal(receiveAll(device, 0), '', 'the FIFO is drained');
  const lcr = readReg(device, 0, UART_LCR);
  writeReg(device, 0, UART_SCR, 0x5a);
  assert.equal(readReg(device, 0, UART_SCR), 0x5a, 'scratch register round-trips');
  writeReg(device, 0, UART_SCR, 0);
  writeReg(device, 0, UART_LCR, lcr);
}
