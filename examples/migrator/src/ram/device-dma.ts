/**
 * Emulated devices with `dma-rate` write the guest RAM by DMA: the RAM block is mapped into
 * each one's type1 container, the device is added to a `VfioDmaDirtyTracking` (the device
 * logs its DMA, so device DMA logging is the mechanism), and the RAM takes it as a dirty
 * source, so pages the device writes during pre-copy are sent again
 * (docs/design/vfio-dirty-tracking.md §6).
 */
import type { MigrationSession } from '@savevm/session';
import { Type1DmaBackend, VfioDmaDirtyTracking } from '@savevm/vfio-v2';
import type { OpenedEmulatedDevice } from '../devices/opened-device.js';
import type { VmRam } from './vm-ram.js';

/** The DMA dirty tracking of every device that writes the RAM. */
export class DeviceDma {
  private constructor(
    /** One per device with a DMA rate. */
    readonly tracking: readonly VfioDmaDirtyTracking[],
  ) {}

  /**
   * Maps the RAM for every emulated device with a DMA rate and makes its DMA a dirty source
   * of the RAM (and, with `counted`, makes the RAM's report count its writes).
   * @throws the kernel's error when mapping fails
   */
  static attach(devices: readonly OpenedEmulatedDevice[], ram: VmRam, session: MigrationSession, counted: boolean): DeviceDma {
    const tracking: VfioDmaDirtyTracking[] = [];
    for (const device of devices) {
      if (device.container === undefined) continue;
      const t = new VfioDmaDirtyTracking(new Type1DmaBackend(device.container), { blockers: session.blockers, name: `${device.label} DMA` });
      t.addDevice(device.vfio);
      t.mapBlock(ram.block);
      ram.ram.addDirtySource(t);
      if (counted) ram.addDmaWriter(() => device.dmaPagesWritten);
      tracking.push(t);
    }
    return new DeviceDma(tracking);
  }
}
