/**
 * Every DMA dirty-tracking ioctl a migration issues, failing with each errno the kernel
 * documents for it: the migration fails naming the device and the mechanism (reason
 * DEVICE_FAILED, the errno), the source VM and its device run on, tracking is off again and
 * no fd is left behind. Stops only warn; setup-time ioctls throw to the VMM
 * (docs/design/vfio-dirty-tracking.md §6).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DMA_DIRTY_MECHANISM_NAMES, Errno, MigState, errnoName, type DmaDirtyMechanism } from '@savevm/vfio';
import { type DmaIoctlOp } from '@savevm/vfio/emulated';
import { rigVm, type RigSpec } from './helpers/dma-rig.js';

const dir = mkdtempSync(join(tmpdir(), 'savevm-dma-fail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const { EINVAL, E2BIG, EOVERFLOW, EFAULT, ENOMEM, ENOTTY, EACCES, EOPNOTSUPP, ENOENT, EIO } = Errno;

const specOf = (mechanism: DmaDirtyMechanism): RigSpec => ({
  mechanism,
  ramBytes: 1 << 20,
  extraBytes: 64 * 1024,
  options: mechanism === 'type1-container' ? { enableMigration: 'on' } : {},
});

/** [mechanism, ioctl, errnos, calls let through first]. */
const DURING_MIGRATION: readonly (readonly [DmaDirtyMechanism, DmaIoctlOp, readonly number[], number])[] = [
  ['device-dma-logging', 'DMA_LOGGING_START', [EINVAL, E2BIG, EOVERFLOW, EFAULT, ENOMEM, ENOTTY], 0],
  ['device-dma-logging', 'DMA_LOGGING_REPORT', [EINVAL, EOVERFLOW, EFAULT, ENOMEM, ENOTTY], 0],
  ['device-dma-logging', 'DMA_LOGGING_REPORT', [EFAULT], 3],
  ['type1-container', 'VFIO_IOMMU_GET_INFO', [EINVAL, EFAULT], 0],
  ['type1-container', 'VFIO_IOMMU_DIRTY_PAGES START', [EACCES, EINVAL, ENOMEM, EFAULT], 0],
  ['type1-container', 'VFIO_IOMMU_DIRTY_PAGES GET_BITMAP', [EACCES, EINVAL, EFAULT], 0],
  ['type1-container', 'VFIO_IOMMU_DIRTY_PAGES GET_BITMAP', [EINVAL], 3],
  ['iommufd-hwpt', 'IOMMU_HWPT_SET_DIRTY_TRACKING', [EOPNOTSUPP, ENOENT, EINVAL, E2BIG, EFAULT], 0],
  ['iommufd-hwpt', 'IOMMU_HWPT_GET_DIRTY_BITMAP', [EOPNOTSUPP, ENOENT, EOVERFLOW, EINVAL, E2BIG, EFAULT], 0],
  ['iommufd-hwpt', 'IOMMU_HWPT_GET_DIRTY_BITMAP', [EFAULT], 3],
];

/** An unmap the VMM makes during pre-copy: [mechanism, ioctl, errnos]. */
const UNMAP_DURING_MIGRATION: readonly (readonly [DmaDirtyMechanism, DmaIoctlOp, readonly number[]])[] = [
  ['type1-container', 'VFIO_IOMMU_UNMAP_DMA', [EINVAL, EFAULT]],
  ['device-dma-logging', 'DMA_LOGGING_REPORT', [EINVAL, EFAULT]],
  ['device-dma-logging', 'VFIO_IOMMU_UNMAP_DMA', [EINVAL]],
  ['iommufd-hwpt', 'IOMMU_HWPT_GET_DIRTY_BITMAP', [EOPNOTSUPP, EINVAL, EFAULT]],
  ['iommufd-hwpt', 'IOMMU_IOAS_UNMAP', [ENOENT, EOVERFLOW, EINVAL]],
];

/** Runs a live migration to a file with the fault in place and checks the failure. */
async function failingMigration(mechanism: DmaDirtyMechanism, op: DmaIoctlOp, errno: number, after: number, unmapInPreCopy: boolean): Promise<void> {
  const src = await rigVm(specOf(mechanism), 'source');
  const fdsBefore = src.kernel.openFds();
  let unmapError: unknown;
  if (unmapInPreCopy) {
    let syncs = 0;
    src.ram.addDirtySource({
      name: 'unmapper',
      start: () => {},
      stop: () => {},
      sync: (block) => {
        if (block !== src.extra || ++syncs !== 2) return;
        src.kernel.failIoctl({ op, errno, times: 1 });
        try {
          src.tracking.unmapBlock(block);
        } catch (error) {
          unmapError = error;
        }
      },
    });
  } else src.kernel.failIoctl({ op, errno, after, times: 1 });
  await src.session.runState.start();
  src.model.dma.write(20);
  const failure = await src.session.migrate(`file:${join(dir, `f${files++}.mig`)}`, { maxBandwidth: 4 << 20 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const name = errnoName(errno);
  if (unmapInPreCopy) expect(String(unmapError), 'the unmap itself throws').toMatch(new RegExp(`gpu0.*${name}`));
  expect(failure, `${op} ${name}`).toMatchObject({ reason: 'DEVICE_FAILED', errno: name });
  // a fault after some calls, or an unmap in pre-copy, fails a later sync than setup's
  if (after > 0 || unmapInPreCopy) expect((failure as { phase: string }).phase).not.toBe('save-setup');
  const text = String((failure as Error).message);
  expect(text).toContain('vfio device gpu0');
  expect(text).toContain(DMA_DIRTY_MECHANISM_NAMES[mechanism]);
  expect(src.session.runState.isRunning).toBe(true);
  expect(src.model.migState).toBe(MigState.RUNNING);
  expect(src.tracking.tracking).toBe(false);
  expect(src.model.dma.log.active).toBe(false);
  expect(src.kernel.openFds()).toEqual(fdsBefore);
  expect(src.ram.migrating).toBe(false);
  src.close();
  expect(src.kernel.openFds()).toEqual([]);
}

describe('an ioctl of DMA dirty tracking fails during a migration', () => {
  for (const [mechanism, op, errnos, after] of DURING_MIGRATION) {
    for (const errno of errnos) {
      it(`${mechanism}: ${op}${after > 0 ? ` (after ${after} calls)` : ''} fails with ${errnoName(errno)}`, async () => {
        await failingMigration(mechanism, op, errno, after, false);
      });
    }
  }
  for (const [mechanism, op, errnos] of UNMAP_DURING_MIGRATION) {
    for (const errno of errnos) {
      it(`${mechanism}: an unmap during pre-copy meets ${op} failing with ${errnoName(errno)}`, async () => {
        await failingMigration(mechanism, op, errno, 0, true);
      });
    }
  }
});

describe('a stop that fails only warns (QEMU does too)', () => {
  const STOPS: readonly (readonly [DmaDirtyMechanism, DmaIoctlOp, number, number])[] = [
    ['device-dma-logging', 'DMA_LOGGING_STOP', EIO, 0],
    ['device-dma-logging', 'DMA_LOGGING_STOP', ENOTTY, 0],
    ['type1-container', 'VFIO_IOMMU_DIRTY_PAGES STOP', EACCES, 0],
    ['type1-container', 'VFIO_IOMMU_DIRTY_PAGES STOP', EINVAL, 0],
    ['iommufd-hwpt', 'IOMMU_HWPT_SET_DIRTY_TRACKING', ENOENT, 1],
  ];
  for (const [mechanism, op, errno, after] of STOPS) {
    it(`${mechanism}: ${op} fails with ${errnoName(errno)}: the migration completes, with a warning naming the device and the mechanism`, async () => {
      const src = await rigVm(specOf(mechanism), 'source');
      src.kernel.failIoctl({ op, errno, after, times: 1 });
      await src.session.runState.start();
      const info = await src.session.migrate(`file:${join(dir, `f${files++}.mig`)}`);
      expect(info.status).toBe('completed');
      const warning = info.warnings.find((w) => w.includes('vfio device gpu0'));
      expect(warning).toContain(DMA_DIRTY_MECHANISM_NAMES[mechanism]);
      expect(warning).toContain(errnoName(errno));
      src.close();
    });
  }
});

describe('setup-time ioctls throw to the VMM, naming the device or the address space and the ioctl', () => {
  it('MAP_DMA, IOAS_MAP, IOAS_ALLOC, GET_HW_INFO, HWPT_ALLOC, ATTACH', async () => {
    const cases: readonly (readonly [DmaDirtyMechanism, DmaIoctlOp, number, RegExp])[] = [
      ['type1-container', 'VFIO_IOMMU_MAP_DMA', EFAULT, /VFIO_IOMMU_MAP_DMA.*EFAULT/],
      ['iommufd-hwpt', 'IOMMU_IOAS_MAP', EFAULT, /IOMMU_IOAS_MAP.*EFAULT/],
      ['iommufd-hwpt', 'IOMMU_IOAS_ALLOC', ENOMEM, /IOMMU_IOAS_ALLOC.*ENOMEM/],
      ['iommufd-hwpt', 'IOMMU_GET_HW_INFO', EFAULT, /gpu0: IOMMU_GET_HW_INFO.*EFAULT/],
      ['iommufd-hwpt', 'IOMMU_HWPT_ALLOC', ENOMEM, /gpu0: IOMMU_HWPT_ALLOC.*ENOMEM/],
      ['iommufd-hwpt', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', EINVAL, /gpu0: VFIO_DEVICE_ATTACH_IOMMUFD_PT.*EINVAL/],
    ];
    for (const [mechanism, op, errno, pattern] of cases) {
      const spec = specOf(mechanism);
      const { EmulatedVfioKernel } = await import('@savevm/vfio/emulated');
      const original = EmulatedVfioKernel.prototype.addDevice;
      // arm the fault on the rig's kernel as soon as it has its device
      EmulatedVfioKernel.prototype.addDevice = function (this: InstanceType<typeof EmulatedVfioKernel>, ...args) {
        this.failIoctl({ op, errno, times: 1 });
        return original.apply(this, args);
      };
      try {
        await expect(rigVm(spec, 'source'), op).rejects.toThrow(pattern);
      } finally {
        EmulatedVfioKernel.prototype.addDevice = original;
      }
    }
  });
  it('a DMA logging PROBE that fails (any errno) means no logging, as in QEMU: the device gets its blocker', async () => {
    for (const errno of [ENOTTY, EIO, EINVAL]) {
      const { EmulatedVfioKernel } = await import('@savevm/vfio/emulated');
      const original = EmulatedVfioKernel.prototype.addDevice;
      EmulatedVfioKernel.prototype.addDevice = function (this: InstanceType<typeof EmulatedVfioKernel>, ...args) {
        this.failIoctl({ op: 'DMA_LOGGING_PROBE', errno, times: 1 });
        return original.apply(this, args);
      };
      try {
        const vm = await rigVm({ mechanism: 'device-dma-logging' }, 'source');
        expect(vm.tracking.devices[0]?.logging).toBeUndefined();
        expect(vm.session.blockers.list().map((b) => b.owner)).toEqual(['gpu0']);
        vm.close();
      } finally {
        EmulatedVfioKernel.prototype.addDevice = original;
      }
    }
  });
});
