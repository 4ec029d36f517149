/**
 * The destination: RESUMING at setup, the load tag loop's rules, writes to the data_fd
 * failing, and the driver's validation (RESUMING→STOP) failing — a migration failure naming
 * the device, never a silent reset. No fd is left open.
 */
import { describe, expect, it } from 'vitest';
import { MigrationError, isMigrationErrorReason } from '@savevm/core';
import { MigState, migStateName } from '@savevm/vfio';
import { VfioV2MigrationError } from '../src/index.js';
import { E, findInChain } from './helpers/faults.js';
import { TAG } from './helpers/stream-layout.js';
import { ALL_FLAGS, STOP_COPY_ONLY, loadFromMemory, makePair, processFdCount, saveToMemory } from './helpers/vm.js';

async function streamAndDestination(flags = STOP_COPY_ONLY, stateSize = 64 * 1024) {
  const { src, dst } = await makePair([{ flags, stateSize }]);
  const { bytes } = await saveToMemory(src);
  src.close();
  const d = dst.devices[0]!;
  const fds = d.emulated.kernel.openFds();
  const processFds = processFdCount();
  return {
    bytes,
    dst,
    d,
    model: d.emulated.model,
    expectNoFdLeft(): void {
      expect(d.emulated.kernel.openFds()).toEqual(fds);
      expect(processFdCount()).toBe(processFds);
      expect(d.migration.state.dataFile).toBeUndefined();
    },
  };
}

async function failedLoad(promise: Promise<unknown>): Promise<MigrationError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MigrationError);
  expect(isMigrationErrorReason((err as MigrationError).reason)).toBe(true);
  expect((err as MigrationError).message.split('byte offset').length - 1).toBeLessThanOrEqual(1);
  return err as MigrationError;
}

/** Replaces the first occurrence of a be64 tag after `from` in a copy of `bytes`. */
function replaceTag(bytes: Buffer, tag: bigint, by: bigint, from = 0): Buffer {
  const copy = Buffer.from(bytes);
  const needle = Buffer.alloc(8);
  needle.writeBigUInt64BE(tag);
  const at = copy.indexOf(needle, from);
  if (at < 0) throw new Error('tag not found');
  copy.writeBigUInt64BE(by, at);
  return copy;
}

describe('QEMU 8.0: load setup goes to RESUMING (recover: the current state)', () => {
  for (const errno of ['EINVAL', 'ENOTTY'] as const) {
    it(`→RESUMING failing with ${errno}: the load fails in load-setup naming the device, which stays RUNNING`, async () => {
      const t = await streamAndDestination();
      t.model.failArc({ from: MigState.RUNNING, to: MigState.STOP, errno: E[errno], times: 1 });
      const err = await failedLoad(loadFromMemory(t.dst, t.bytes));
      expect(err.phase).toBe('load-setup');
      expect(err.reason).toBe('DEVICE_FAILED');
      expect(err.message).toContain(t.d.emulated.device.name);
      expect(err.errno).toBe(errno);
      expect(t.model.migState).toBe(MigState.RUNNING);
      t.expectNoFdLeft();
    });
  }
});

describe('QEMU 8.0: load state handles CONFIG, SETUP, DATA and END_OF_STATE and rejects an unknown tag', () => {
  it('an unknown tag is EINVAL naming the device', async () => {
    const t = await streamAndDestination();
    const bad = replaceTag(t.bytes, TAG.DEV_SETUP_STATE, 0xffffffffef1000ffn);
    const err = await failedLoad(loadFromMemory(t.dst, bad));
    expect(err.phase).toBe('load-state');
    expect(err.errno).toBe('EINVAL');
    expect(err.reason).toBe('BAD_STREAM');
    expect(err.message).toMatch(/Unknown tag 0xffffffffef1000ff/);
    expect(findInChain(err, VfioV2MigrationError)?.device).toBe(t.d.emulated.device.name);
    t.expectNoFdLeft();
  });

  it('DEV_SETUP_STATE not followed by END_OF_STATE is EINVAL', async () => {
    const t = await streamAndDestination();
    const bad = replaceTag(t.bytes, TAG.END_OF_STATE, TAG.DEV_SETUP_STATE);
    const err = await failedLoad(loadFromMemory(t.dst, bad));
    expect(err.message).toMatch(/DEV_SETUP_STATE not followed by END_OF_STATE/);
    expect(err.reason).toBe('BAD_STREAM');
    t.expectNoFdLeft();
  });

  it('DEV_INIT_DATA_SENT while switchover-ack is off is EINVAL', async () => {
    const t = await streamAndDestination();
    const data = Buffer.alloc(8);
    data.writeBigUInt64BE(TAG.DEV_DATA_STATE);
    const bad = replaceTag(t.bytes, TAG.END_OF_STATE, TAG.DEV_INIT_DATA_SENT, t.bytes.indexOf(data));
    const err = await failedLoad(loadFromMemory(t.dst, bad));
    expect(err.message).toMatch(/DEV_INIT_DATA_SENT while switchover-ack is off/);
    expect(err.reason).toBe('BAD_STREAM');
    t.expectNoFdLeft();
  });

  it('DEV_CONFIG_STATE without a config-state hook is EINVAL', async () => {
    const t = await streamAndDestination();
    const bad = replaceTag(t.bytes, TAG.DEV_SETUP_STATE, TAG.DEV_CONFIG_STATE);
    const err = await failedLoad(loadFromMemory(t.dst, bad));
    expect(err.message).toMatch(/DEV_CONFIG_STATE but no config-state hook/);
    expect(err.reason).toBe('DEVICE_FAILED');
    t.expectNoFdLeft();
  });

  it('a stream cut inside the device data is TRUNCATED, the byte offset stated once', async () => {
    const t = await streamAndDestination();
    const needle = Buffer.alloc(8);
    needle.writeBigUInt64BE(TAG.DEV_DATA_STATE);
    const cut = t.bytes.subarray(0, t.bytes.indexOf(needle) + 16 + 1000);
    const err = await failedLoad(loadFromMemory(t.dst, cut));
    expect(err.phase).toBe('load-state');
    expect(err.reason).toBe('TRUNCATED');
    expect(err.errno).toBe('EIO');
    expect(err.message.match(/byte offset/g)).toHaveLength(1);
    t.expectNoFdLeft();
  });

  it('a DATA block of size 0 is skipped', async () => {
    const t = await streamAndDestination();
    // Turn the START body (SETUP, END) into (DATA 0, END): 16 bytes either way.
    const copy = Buffer.from(t.bytes);
    const needle = Buffer.alloc(8);
    needle.writeBigUInt64BE(TAG.DEV_SETUP_STATE);
    const at = copy.indexOf(needle);
    copy.writeBigUInt64BE(TAG.DEV_DATA_STATE, at);
    copy.writeBigUInt64BE(0n, at + 8);
    const afterSetup = Buffer.alloc(8);
    afterSetup.writeBigUInt64BE(TAG.END_OF_STATE);
    const fixed = Buffer.concat([copy.subarray(0, at + 16), afterSetup, copy.subarray(at + 16)]);
    // START now holds DATA(0), END_OF_STATE: the empty block is skipped and the load completes.
    const info = await loadFromMemory(t.dst, fixed);
    expect(info.status).toBe('completed');
    expect(t.d.migration.loader.loadedBytes).toBe(t.model.stopCopyLength());
    t.expectNoFdLeft();
  });
});

describe('writes to the resume data_fd failing (errnos from the rig: EFAULT bad header, ENOMEM past the state, ENODEV after a reset)', () => {
  for (const errno of ['EFAULT', 'ENOMEM', 'ENODEV', 'EIO'] as const) {
    it(`write(data_fd) failing with ${errno}: load-state failure naming the device; the device is reset to RUNNING with its own state; fds closed`, async () => {
      const t = await streamAndDestination();
      const own = Buffer.from(t.model.stateBytes);
      t.model.failDataWrite({ afterBytes: 1000, errno: E[errno] });
      const err = await failedLoad(loadFromMemory(t.dst, t.bytes));
      expect(err.phase).toBe('load-state');
      expect(err.errno).toBe(errno);
      expect(err.reason).toBe('DEVICE_FAILED');
      expect(findInChain(err, VfioV2MigrationError)?.device).toBe(t.d.emulated.device.name);
      // The load failed, so RESUMING is aborted the only way the uAPI allows: a reset.
      expect(migStateName(t.model.migState)).toBe('RUNNING');
      expect(Buffer.from(t.model.stateBytes).equals(own)).toBe(true);
      t.expectNoFdLeft();
    });
  }
});

describe("beyond QEMU: the destination's validation (RESUMING→STOP) failing is a migration failure naming the device, never a silent reset", () => {
  it('a corrupted device image: the load fails in load-cleanup naming the device, the VM is not started, the device stays RESUMING', async () => {
    const t = await streamAndDestination(STOP_COPY_ONLY, 64 * 1024);
    // Flip a byte inside the device data (after the image header) so the checksum fails at RESUMING→STOP.
    const copy = Buffer.from(t.bytes);
    const needle = Buffer.alloc(8);
    needle.writeBigUInt64BE(TAG.DEV_DATA_STATE);
    const data = copy.indexOf(needle) + 16;
    copy[data + 5000] = (copy[data + 5000] as number) ^ 0xff;
    const err = await failedLoad(loadFromMemory(t.dst, copy, true));
    expect(err.phase).toBe('load-cleanup');
    expect(err.reason).toBe('DEVICE_FAILED');
    expect(err.message).toContain(t.d.emulated.device.name);
    expect(err.message).toMatch(/RESUMING→STOP/);
    expect(migStateName(t.model.migState)).toBe('RESUMING');
    expect(t.model.arcLog.some(([, to]) => to === MigState.RUNNING)).toBe(false);
    t.expectNoFdLeft();
  });

  it('without autostart too: the validation failure fails the load naming the device (no silent warning)', async () => {
    const t = await streamAndDestination(STOP_COPY_ONLY, 64 * 1024);
    t.model.failArc({ from: MigState.RESUMING, to: MigState.STOP, errno: E.EINVAL });
    const err = await failedLoad(loadFromMemory(t.dst, t.bytes, false));
    expect(err.phase).toBe('load-cleanup');
    expect(err.message).toContain(t.d.emulated.device.name);
    expect(err.errno).toBe('EINVAL');
    expect(migStateName(t.model.migState)).toBe('RESUMING');
    t.expectNoFdLeft();
  });

  it('a good image passes validation: STOP, then RUNNING at VM start', async () => {
    const t = await streamAndDestination(ALL_FLAGS);
    await loadFromMemory(t.dst, t.bytes, true);
    expect(t.model.migState).toBe(MigState.RUNNING);
    t.expectNoFdLeft();
  });
});
