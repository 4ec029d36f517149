// probe-chain.guest.mjs — the handler providers' probe chain on the real kernel. The v2 provider
// (@savevm/vfio-v2, priority 200) probes the fixture mtty devices — one opened through
// group+container, one through the iommufd cdev — and accepts them with flags
// STOP_COPY|P2P|PRE_COPY; the core attacher picks it without asking v1. On the mdpy device
// (no migration): v2 gets ENOTTY, v1 (@savevm/vfio-v1-legacy, priority 100) finds no migration
// region, attach throws one NoHandlerProviderError listing both reasons, attachOrBlock installs a
// blocker, and MigrationSource.migrate then fails before setup with that reason, touching no device.
import assert from 'node:assert/strict';
import { Container } from 'inversify';
import {
  DEVICE_MIGRATION_ATTACHER,
  MIGRATION_BLOCKERS,
  MIGRATION_SOURCE,
  MigrationError,
  NoHandlerProviderError,
  PROVIDER_SELECTOR,
  RUN_STATE_CONTROLLER,
  RunState,
  coreContainerModule,
} from '@savevm/core';
import { MemoryWriteChannel, QemuFileWriter } from '@savevm/stream';
import { MigState, VfioMigrationFlags, openVfioDevice } from '@savevm/vfio';
import { vfioV1ContainerModule } from '@savevm/vfio-v1-legacy';
import { VfioTracePoint, VfioV2Provider, describeMigrationFlags, vfioV2ContainerModule } from '@savevm/vfio-v2';
import { FAST, recordTrace } from './lib/vm.mjs';

const MTTY_FLAGS = VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P | VfioMigrationFlags.PRE_COPY;
const V2_ACCEPT = 'VFIO migration v2, flags STOP_COPY|P2P|PRE_COPY';
const V2_ENOTTY = 'VFIO_DEVICE_FEATURE GET MIGRATION: ENOTTY (no VFIO migration v2 in this kernel or driver)';
const V1_NO_REGION = 'no v1 migration region';

/** A VMM's container: core + the two VFIO providers' own modules (v1 loaded first on purpose). */
function vmmContainer() {
  const c = new Container();
  c.load(coreContainerModule, vfioV1ContainerModule(), vfioV2ContainerModule());
  return c;
}

/** Opens a fixture device; closed after the test. */
function openFixture(t, mdev, via) {
  const device = openVfioDevice({ mdevUuid: mdev.uuid }, { via });
  t.defer(() => device.close());
  return device;
}

export async function v2ProviderAcceptsMttyViaGroupAndCdev(t) {
  const { mtty2a, mtty2b, mtty1 } = t.fixture;
  const trace = recordTrace(t, [VfioTracePoint.vfio_migration_probe]);
  const provider = new VfioV2Provider();
  const lines = [];
  for (const [label, mdev, via] of [['mtty-2 via group', mtty2a, 'group'], ['mtty-2 via cdev', mtty2b, 'cdev'], ['mtty-1 via group', mtty1, 'group']]) {
    const device = openFixture(t, mdev, via);
    const verdict = provider.probe(device);
    assert.deepEqual(verdict, { accepted: true, reason: V2_ACCEPT }, `${label}: v2 probe verdict`);
    assert.equal(describeMigrationFlags(device.getMigrationFlags()), 'STOP_COPY|P2P|PRE_COPY', `${label}: describeMigrationFlags`);
    assert.equal(device.getMigrationFlags(), MTTY_FLAGS);
    assert.equal(device.getState(), MigState.RUNNING, `${label}: probing leaves the device RUNNING`);
    lines.push(`${label} (${mdev.uuid}): ${verdict.reason}`);
  }
  assert.deepEqual(
    trace.map((e) => [e.device, e.flags, e.errno]),
    [mtty2a, mtty2b, mtty1].map((m) => [m.uuid, MTTY_FLAGS, undefined]),
    'one vfio_migration_probe trace per device, flags 0x7',
  );
  t.report('v2 probe verdicts on mtty', lines, { console: false });
}

export async function attacherPicksV2ForMttyWithoutAskingV1(t) {
  const c = vmmContainer();
  assert.deepEqual(
    c.get(PROVIDER_SELECTOR).providers.map((p) => [p.name, p.priority]),
    [['vfio-v2', 200], ['vfio-v1', 100]],
    'v2 is asked before v1 whatever the module order',
  );
  const attacher = c.get(DEVICE_MIGRATION_ATTACHER);
  for (const [mdev, via] of [[t.fixture.mtty2a, 'cdev'], [t.fixture.mtty1, 'group']]) {
    const device = openFixture(t, mdev, via);
    const attached = await attacher.attach(device, `${mdev.type} via ${via}`);
    t.defer(() => attached.detach());
    assert.equal(attached.provider.name, 'vfio-v2');
    assert.deepEqual(attached.verdicts, [{ provider: 'vfio-v2', verdict: { accepted: true, reason: V2_ACCEPT } }], 'v1 was not asked');
    assert.equal(attached.entry.idstr, `${mdev.uuid}/vfio`, 'default idstr: <device name>/vfio');
    assert.equal(attached.entry.versionId, 1);
    assert.equal(device.getState(), MigState.RUNNING, 'attaching does not move the device');
  }
}

export async function mdpyNotMigratableListsBothReasons(t) {
  const { mdpy } = t.fixture;
  assert.ok(mdpy, `fixture mdpy missing: ${t.fixture.error ?? ''}`);
  const c = vmmContainer();
  const attacher = c.get(DEVICE_MIGRATION_ATTACHER);
  // One open at a time: the kernel refuses a second open of the same device (EBUSY).
  for (const via of ['group', 'cdev']) {
    const device = openVfioDevice({ mdevUuid: mdpy.uuid }, { via });
    const name = `mdpy via ${via}`;
    let error;
    try {
      error = await attacher.attach(device, name).then(
        () => assert.fail(`${name}: attach accepted a device without migration`),
        (e) => e,
      );
    } finally {
      device.close();
    }
    assert.ok(error instanceof NoHandlerProviderError, `${name}: NoHandlerProviderError (got ${error?.name}: ${error?.message})`);
    assert.equal(error.message, `no handler provider accepts ${name}: vfio-v2: ${V2_ENOTTY}; vfio-v1: ${V1_NO_REGION}`);
    assert.deepEqual(error.verdicts, [
      { provider: 'vfio-v2', verdict: { accepted: false, reason: V2_ENOTTY } },
      { provider: 'vfio-v1', verdict: { accepted: false, reason: V1_NO_REGION } },
    ]);
    t.log(`${name}: ${error.message}`);
  }
  assert.equal(c.get(MIGRATION_BLOCKERS).list().length, 0, 'attach (not attachOrBlock) installs no blocker');
}

export async function blockerStopsMigrateBeforeSetup(t) {
  const c = vmmContainer();
  const attacher = c.get(DEVICE_MIGRATION_ATTACHER);
  const runState = c.get(RUN_STATE_CONTROLLER);
  const trace = recordTrace(t, [VfioTracePoint.vfio_migration_set_state, VfioTracePoint.vfio_save_setup]);

  // A migratable mtty device in the same VM: it must not be touched by the refused migration.
  const mtty = t.createMdev('mtty-1');
  const good = openFixture(t, mtty, 'cdev');
  const attached = await attacher.attachOrBlock(good, 'mtty-1');
  assert.ok(!('blocker' in attached), 'the mtty device is attached, not blocked');
  t.defer(() => attached.detach());

  const mdpyDevice = openFixture(t, t.fixture.mdpy, 'group');
  const blocked = await attacher.attachOrBlock(mdpyDevice, 'mdpy');
  assert.ok('blocker' in blocked, 'mdpy is blocked');
  t.defer(() => blocked.blocker.dispose());
  const reason = `no handler provider accepts mdpy: vfio-v2: ${V2_ENOTTY}; vfio-v1: ${V1_NO_REGION}`;
  assert.equal(blocked.error.message, reason);
  assert.deepEqual(c.get(MIGRATION_BLOCKERS).list(), [{ reason, owner: 'mdpy' }]);

  runState.setState(RunState.RUNNING);
  const source = c.get(MIGRATION_SOURCE);
  const channel = new MemoryWriteChannel();
  const refused = await source.migrate(new QemuFileWriter(channel), FAST).then(
    (info) => assert.fail(`migrate succeeded despite the blocker (status ${info.status})`),
    (e) => e,
  );
  assert.ok(refused instanceof MigrationError, `MigrationError (got ${refused?.name}: ${refused?.message})`);
  assert.equal(refused.phase, 'blocked');
  assert.equal(refused.errno, 'EPERM');
  assert.ok(refused.message.includes(`mdpy: ${reason}`), `the refusal carries the reason: ${refused.message}`);
  assert.equal(channel.bytes().length, 0, 'nothing was written');
  assert.deepEqual(trace, [], 'no device was touched (no save setup, no state change)');
  assert.equal(good.getState(), MigState.RUNNING, 'the mtty device is still RUNNING');
  assert.equal(runState.state, RunState.RUNNING, 'the VM still runs');

  // Lifting the blocker lets the same VM migrate its migratable device.
  blocked.blocker.dispose();
  const info = await source.migrate(new QemuFileWriter(channel), FAST);
  assert.equal(info.status, 'completed');
  assert.ok(trace.some((e) => e.point === VfioTracePoint.vfio_save_setup && e.device === mtty.uuid), 'the mtty device was saved');
  await runState.start();
  assert.equal(good.getState(), MigState.RUNNING, 'the mtty device runs again after the VM restarts');
  t.log(`refused: ${refused.message}; after lifting the blocker: ${channel.bytes().length}-byte stream`);
}
