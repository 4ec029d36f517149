// vm.mjs — one VM's worth of @savevm/core services around REAL VFIO devices, in plain JS for the
// guest. It mirrors packages/vfio-v2/test/helpers/vm.ts and test/vfio-probe-chain: an inversify
// container with coreContainerModule, the VFIO v2 provider (priority 200) and the v1 legacy
// provider (priority 100) bound to HANDLER_PROVIDER, devices attached through the core's
// DeviceMigrationAttacher. Each device gets a slot name (`0000:00:03.0`), so its section idstr
// (`0000:00:03.0/vfio`) is the same on the source and on the destination, although the mdev UUIDs
// (the VfioDevice names) differ. Also: trace recording through node:diagnostics_channel, the
// error-chain walk the failure tests use, and the stream surgery of the truncation test.
import diagnosticsChannel from 'node:diagnostics_channel';
import { Container } from 'inversify';
import {
  DEVICE_MIGRATION_ATTACHER,
  HANDLER_PROVIDER,
  MIGRATION_BLOCKERS,
  MIGRATION_DESTINATION,
  MIGRATION_SOURCE,
  RUN_STATE_CONTROLLER,
  SAVE_STATE_REGISTRY,
  RunState,
  coreContainerModule,
} from '@savevm/core';
import { VfioTag, openVfioDevice } from '@savevm/vfio';
import { VfioV1Provider } from '@savevm/vfio-v1-legacy';
import { VfioV2Provider } from '@savevm/vfio-v2';

/** Parameters that let the loop converge at once: unlimited bandwidth, a huge assumed switchover bandwidth. */
export const FAST = Object.freeze({ maxBandwidth: 0, availSwitchoverBandwidth: 1e12, maxIterations: 10_000 });

/** The PCI-like slot name of the n-th device of a VM (`0000:00:03.0`, `0000:00:04.0`, …). */
export function slotName(index) {
  return `0000:00:${(index + 3).toString(16).padStart(2, '0')}.0`;
}

/** One VM: core services from an inversify container, the v2 and v1 providers bound. */
export class GuestVm {
  /**
   * @param t the test (devices, attachments and data files are cleaned up through t.defer)
   * @param options.label names the VM in messages ("A", "B")
   * @param options.v2 the v2 options of every device (preCopy, switchoverAck, stopCopyExit…)
   * @param options.initial the run state to start in (RUNNING for a source, INMIGRATE for a destination)
   */
  constructor(t, { label = 'vm', v2 = {}, initial = RunState.RUNNING } = {}) {
    this.t = t;
    this.label = label;
    /** @type {Map<object, string>} device → slot name */
    this.slots = new Map();
    /** @type {Map<object, object>} device → extra v2 options of that device */
    this.perDevice = new Map();
    this.container = new Container();
    this.container.load(coreContainerModule);
    this.v2 = new VfioV2Provider((device) => ({ ...v2, ...this.perDevice.get(device), idstr: this.idstrOf(device) }));
    this.v1 = new VfioV1Provider({ idstrOf: (device) => this.idstrOf(device) });
    this.container.bind(HANDLER_PROVIDER).toConstantValue(this.v2);
    this.container.bind(HANDLER_PROVIDER).toConstantValue(this.v1);
    this.runState.setState(initial);
    /** @type {Array<{ slot: string, mdev: object, device: object, attached: object, migration: object }>} */
    this.devices = [];
  }

  get source() {
    return this.container.get(MIGRATION_SOURCE);
  }
  get destination() {
    return this.container.get(MIGRATION_DESTINATION);
  }
  get runState() {
    return this.container.get(RUN_STATE_CONTROLLER);
  }
  get registry() {
    return this.container.get(SAVE_STATE_REGISTRY);
  }
  get blockers() {
    return this.container.get(MIGRATION_BLOCKERS);
  }
  get attacher() {
    return this.container.get(DEVICE_MIGRATION_ATTACHER);
  }

  /** The section idstr of a device of this VM. */
  idstrOf(device) {
    const slot = this.slots.get(device);
    if (slot === undefined) throw new Error(`${this.label}: device ${device.name} has no slot`);
    return `${slot}/vfio`;
  }

  /**
   * Opens an mdev (`via` 'group' or 'cdev') and attaches it in the next slot. The cleanups
   * (LIFO) detach it, close any data file its migration still holds, then close the device.
   * @param deviceOptions extra v2 options of this device (e.g. runStatePriority)
   * @param slot its slot name (default: the next one; `0000:00:02.0` is QEMU's first pc slot)
   */
  async addDevice(mdev, via, deviceOptions = {}, slot = slotName(this.slots.size)) {
    const device = openVfioDevice({ mdevUuid: mdev.uuid }, { via });
    this.t.defer(() => device.close());
    this.slots.set(device, slot);
    this.perDevice.set(device, deviceOptions);
    const attached = await this.attacher.attach(device, `${this.label} ${slot} (${mdev.type} ${mdev.uuid} via ${via})`);
    this.t.defer(() => attached.detach());
    const migration = this.v2.created.get(device);
    // A failed test may leave a session open: never leak its data fd.
    this.t.defer(() => migration?.state.closeDataFile());
    const entry = { slot, mdev, device, attached, migration };
    this.devices.push(entry);
    return entry;
  }
}

/**
 * Records the VFIO v2 trace events named in `points` (node:diagnostics_channel) into an array of
 * { point, ...payload }, until the test ends.
 */
export function recordTrace(t, points) {
  const events = [];
  for (const point of points) {
    const fn = (payload) => events.push({ point, ...payload });
    diagnosticsChannel.subscribe(point, fn);
    t.defer(() => diagnosticsChannel.unsubscribe(point, fn));
  }
  return events;
}

/** Calls `fn` the first time `point` fires (until the test ends). */
export function onceOn(t, point, fn) {
  let done = false;
  const listener = (payload) => {
    if (done) return;
    done = true;
    fn(payload);
  };
  diagnosticsChannel.subscribe(point, listener);
  t.defer(() => diagnosticsChannel.unsubscribe(point, listener));
}

/** Awaits a promise expected to reject; returns the rejection (throws if it resolved). */
export async function rejectionOf(promise, what) {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`${what} was expected to fail, but it succeeded (status ${outcome.value?.status})`);
  return outcome.error;
}

/** The error and its `cause`s, outermost first. */
export function causeChain(error) {
  const chain = [];
  for (let e = error; e !== undefined && e !== null && chain.length < 16; e = e.cause) chain.push(e);
  return chain;
}

/** One line per error in the chain: `Name [errno]: message`. */
export function describeChain(error) {
  return causeChain(error).map((e) => `${e?.name ?? typeof e}${e?.errno ? ` [${e.errno}]` : ''}: ${e?.message ?? String(e)}`);
}

/**
 * The DEV_DATA_STATE blocks of the VFIO sections of `idstr` in an inspected stream:
 * { record, tagOffset, size, dataOffset } in stream order. Walks each section body from its
 * bodyOffset: be64 tag, and for DATA a be64 size and the bytes.
 */
export function deviceDataBlocks(bytes, inspection, idstr) {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blocks = [];
  for (const { record } of inspection.records) {
    if (!('idstr' in record) || record.idstr !== idstr || record.bodyOffset === undefined) continue;
    for (let at = record.bodyOffset; ; ) {
      const tag = buf.readBigUInt64BE(at);
      if (tag === VfioTag.DEV_DATA_STATE) {
        const size = Number(buf.readBigUInt64BE(at + 8));
        blocks.push({ record, tagOffset: at, size, dataOffset: at + 16 });
        at += 16 + size;
      } else if (tag === VfioTag.DEV_SETUP_STATE) {
        at += 8;
      } else {
        break; // END_OF_STATE, INIT_DATA_SENT, CONFIG_LOAD_READY (or a config state we never write)
      }
    }
  }
  return blocks;
}

/**
 * A copy of `bytes` where one DEV_DATA_STATE block keeps only its first `keep` bytes, with its
 * size field fixed: the framing stays valid, the device receives a short state.
 */
export function shortenDataBlock(bytes, block, keep) {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (keep >= block.size) throw new Error(`cannot shorten a ${block.size}-byte block to ${keep}`);
  const out = Buffer.concat([
    buf.subarray(0, block.tagOffset + 8),
    (() => {
      const size = Buffer.alloc(8);
      size.writeBigUInt64BE(BigInt(keep));
      return size;
    })(),
    buf.subarray(block.dataOffset, block.dataOffset + keep),
    buf.subarray(block.dataOffset + block.size),
  ]);
  return out;
}
