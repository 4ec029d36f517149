/**
 * VMs with guest RAM and an emulated VFIO device that writes guest pages by DMA: a session
 * with the v2 provider, a GuestRam block at guest address 0 registered as `ram`, the device
 * opened through a type1 container or an iommufd (as the mechanism asks), the RAM mapped for
 * DMA and the device added to a `VfioDmaDirtyTracking` (whose dirty source the RAM uses
 * unless told not to).
 */
import { createMigrationSession, type MigrationSession } from '@savevm/session';
import { GuestRam, registerRam, type RamBlock, type RamMigration } from '@savevm/ram';
import { IommufdContext, VfioContainer, type DmaDirtyMechanism, type VfioDevice } from '@savevm/vfio';
import {
  EmulatedDmaWriter,
  EmulatedVfioKernel,
  type EmulatedDeviceConfig,
  type EmulatedDeviceModel,
} from '@savevm/vfio/emulated';
import { IommufdDmaBackend, Type1DmaBackend, VfioDmaDirtyTracking, vfioV2ContainerModule, type VfioDmaDeviceOptions } from '../../src/index.js';

/** How the device is opened, and what it can track. */
export interface RigSpec {
  /** The mechanism the device's abilities lead the policy to. */
  readonly mechanism: DmaDirtyMechanism | 'none';
  /** RAM bytes (default 4 MiB). */
  readonly ramBytes?: number;
  /** More device config. */
  readonly device?: EmulatedDeviceConfig;
  /** Per-device policy options. */
  readonly options?: VfioDmaDeviceOptions;
  /** Whether the RAM takes the DMA dirty source (default true). */
  readonly dmaTracking?: boolean;
  /** Open through iommufd even for device logging (default: type1 for logging and type1, iommufd for iommufd-hwpt and none). */
  readonly via?: 'type1' | 'iommufd';
  /** A second RAM block at 256 MiB (bytes), for unmap tests. */
  readonly extraBytes?: number;
}

/** One VM. */
export interface RigVm {
  readonly session: MigrationSession;
  readonly ram: GuestRam;
  readonly block: RamBlock;
  readonly extra: RamBlock | undefined;
  readonly handlers: RamMigration;
  readonly kernel: EmulatedVfioKernel;
  readonly model: EmulatedDeviceModel;
  readonly device: VfioDevice;
  readonly tracking: VfioDmaDirtyTracking;
  /** Closes the device and its container or iommufd. */
  close(): void;
}

/** The device abilities that lead to each mechanism. */
export function deviceFor(mechanism: DmaDirtyMechanism | 'none'): EmulatedDeviceConfig {
  switch (mechanism) {
    case 'device-dma-logging':
      return { dmaLogging: true };
    case 'type1-container':
      return { iommu: 'emulated' };
    case 'iommufd-hwpt':
      return { iommu: 'physical', iommuDirtyTracking: true };
    case 'none':
      return { iommu: 'emulated' };
  }
}

/** Bytes from a seed (xorshift). */
export function seeded(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  return out;
}

/** Builds a VM: `source` fills RAM from a seed, a destination gets garbage. */
export async function rigVm(spec: RigSpec, role: 'source' | 'destination'): Promise<RigVm> {
  const session = await createMigrationSession({ providers: [vfioV2ContainerModule()] });
  const ram = new GuestRam();
  const bytes = spec.ramBytes ?? 4 << 20;
  const block = ram.addBlock('pc.ram', role === 'source' ? seeded(3, bytes) : Buffer.alloc(bytes, 0x5a), { guestAddress: 0 });
  const extra = spec.extraBytes === undefined ? undefined : ram.addBlock('extra.ram', role === 'source' ? seeded(4, spec.extraBytes) : Buffer.alloc(spec.extraBytes, 0xa5), { guestAddress: 256 << 20 });
  const handlers = registerRam(session.registry, ram).handlers as RamMigration;
  const kernel = new EmulatedVfioKernel();
  const node = kernel.addDevice({ name: 'gpu0', stateSize: 16 * 1024, seed: role === 'source' ? 11 : 12, ...deviceFor(spec.mechanism), ...spec.device });
  const via = spec.via ?? (spec.mechanism === 'iommufd-hwpt' || spec.mechanism === 'none' ? 'iommufd' : 'type1');
  let device: VfioDevice;
  let tracking: VfioDmaDirtyTracking;
  let closeAll: () => void;
  if (via === 'type1') {
    const container = VfioContainer.open({ syscalls: kernel });
    device = container.openDevice(node);
    tracking = new VfioDmaDirtyTracking(new Type1DmaBackend(container), { blockers: session.blockers });
    closeAll = () => container.close();
  } else {
    const context = IommufdContext.open({ syscalls: kernel });
    device = context.openDevice(node);
    tracking = new VfioDmaDirtyTracking(new IommufdDmaBackend(context), { blockers: session.blockers });
    closeAll = () => context.close();
  }
  tracking.addDevice(device, spec.options);
  tracking.mapBlock(block);
  if (extra !== undefined) tracking.mapBlock(extra);
  if (spec.dmaTracking ?? true) ram.addDirtySource(tracking);
  await session.attach(device, 'gpu0');
  return { session, ram, block, extra, handlers, kernel, model: node.model, device, tracking, close: closeAll };
}

/** The pages (4 KiB) where two memories differ. */
export function differingPages(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  for (let p = 0; p * 4096 < a.length; p++) {
    if (!Buffer.from(a.buffer, a.byteOffset + p * 4096, 4096).equals(Buffer.from(b.buffer, b.byteOffset + p * 4096, 4096))) out.push(p);
  }
  return out;
}

/** A DMA writer on the source's device. */
export function dmaWriter(vm: RigVm, pagesPerSecond: number): EmulatedDmaWriter {
  return new EmulatedDmaWriter(vm.model.dma, { pagesPerSecond, intervalMs: 2 });
}
