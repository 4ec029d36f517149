import { describe, expect, it } from 'vitest';
import { MigrationError, type MigrationBlockers, MIGRATION_BLOCKERS } from '@savevm/core';
import { MULTI_DEVICE_BLOCKER_REASON, MigState } from '@savevm/vfio';
import { ALL_FLAGS, STOP_COPY_P2P, STOP_COPY_PRE_COPY, loadFromMemory, makePair, saveToMemory, type DeviceSpec } from './helpers/vm.js';

const NO_P2P = '0000:00:03.0';
const WITH_P2P = '0000:00:04.0';

async function refusal(run: Promise<unknown>): Promise<MigrationError> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigrationError);
  return error as MigrationError;
}

describe("QEMU 8.2's multi-device rule: more than one VFIO device migrates only when all have P2P", () => {
  const mixed: DeviceSpec[] = [{ flags: STOP_COPY_PRE_COPY }, { flags: ALL_FLAGS }];

  it('one device without P2P among two: migrate is refused before setup, naming it; nothing moved', async () => {
    const { src, dst } = await makePair(mixed);
    const error = await refusal(saveToMemory(src));
    expect(error.reason).toBe('BLOCKED');
    expect(error.phase).toBe('blocked');
    expect(error.message).toContain(`vfio: ${MULTI_DEVICE_BLOCKER_REASON} (without P2P: ${NO_P2P})`);
    expect(error.message).not.toContain(WITH_P2P);
    for (const d of src.devices) {
      expect(d.emulated.model.migState).toBe(MigState.RUNNING);
      expect(d.migration.state.dataFile).toBeUndefined();
    }
    expect(src.runState.isRunning).toBe(true);
    src.close();
    dst.close();
  });

  it('every device with P2P: migrates', async () => {
    const { src, dst } = await makePair([{ flags: STOP_COPY_P2P }, { flags: ALL_FLAGS }]);
    expect(src.container.get<MigrationBlockers>(MIGRATION_BLOCKERS).list()).toEqual([]);
    const { bytes, info } = await saveToMemory(src);
    expect(info.status).toBe('completed');
    await loadFromMemory(dst, bytes);
    for (const [i, d] of dst.devices.entries()) {
      expect(Buffer.from(d.emulated.model.stateBytes).equals(Buffer.from(src.devices[i]!.emulated.model.stateBytes))).toBe(true);
    }
    src.close();
    dst.close();
  });

  it('the escape (allowMultiDeviceWithoutP2P): the same two devices migrate', async () => {
    const { src, dst } = await makePair(mixed, { allowMultiDeviceWithoutP2P: true });
    const { bytes, info } = await saveToMemory(src);
    expect(info.status).toBe('completed');
    await loadFromMemory(dst, bytes);
    expect(Buffer.from(dst.devices[0]!.emulated.model.stateBytes).equals(Buffer.from(src.devices[0]!.emulated.model.stateBytes))).toBe(true);
    src.close();
    dst.close();
  });

  it('detaching a device lifts the blocker (either one), and attaching another sets it again', async () => {
    const { src, dst } = await makePair(mixed);
    const blockers = src.container.get<MigrationBlockers>(MIGRATION_BLOCKERS);
    expect(blockers.list()).toHaveLength(1);
    src.devices[1]!.attached.detach();
    expect(blockers.list()).toEqual([]);
    await src.addDevice(2, { flags: STOP_COPY_P2P }, 7);
    expect(blockers.list().map((b) => b.reason)).toEqual([`${MULTI_DEVICE_BLOCKER_REASON} (without P2P: ${NO_P2P})`]);
    src.devices[0]!.attached.detach();
    expect(blockers.list()).toEqual([]);
    const { info } = await saveToMemory(src);
    expect(info.status).toBe('completed');
    src.close();
    dst.close();
  });
});
