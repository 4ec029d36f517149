/**
 * Test worlds: a VM (core services from the inversify container, the VFIO v2 provider bound)
 * with emulated VFIO devices attached through the core's attacher, and helpers to migrate
 * between two of them over memory or a socket pair.
 */
import fs from 'node:fs';
import net from 'node:net';
import { Container } from 'inversify';
import {
  DEVICE_MIGRATION_ATTACHER,
  HANDLER_PROVIDER as HANDLER_PROVIDER_TOKEN,
  MIGRATION_CLOCK,
  MIGRATION_DESTINATION,
  MIGRATION_NOTIFIERS,
  MIGRATION_SOURCE,
  RUN_STATE_CONTROLLER,
  RunState,
  SAVE_STATE_REGISTRY,
  coreContainerModule,
  type AttachedDevice,
  type DestinationReturnPath,
  type DeviceMigrationAttacher,
  type MigrationClock,
  type MigrationDestination,
  type MigrationInfo,
  type MigrationNotifiers,
  type MigrationParameters,
  type MigrationSource,
  type RunStateController,
  type SaveStateRegistry,
} from '@savevm/core';
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter, SocketChannel } from '@savevm/stream';
import { VfioMigrationFlags, type VfioDevice } from '@savevm/vfio';
import { createEmulatedDevice, type EmulatedDeviceSetup } from '@savevm/vfio/emulated';
import { VfioV2Provider, type VfioV2DeviceMigration, type VfioV2Options } from '../../src/index.js';

/** All three migration flags. */
export const ALL_FLAGS = VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P | VfioMigrationFlags.PRE_COPY;
/** STOP_COPY only (what QEMU 8.0 used). */
export const STOP_COPY_ONLY = VfioMigrationFlags.STOP_COPY;
/** STOP_COPY | P2P. */
export const STOP_COPY_P2P = VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.P2P;
/** STOP_COPY | PRE_COPY. */
export const STOP_COPY_PRE_COPY = VfioMigrationFlags.STOP_COPY | VfioMigrationFlags.PRE_COPY;

/**
 * Options for tests that mix devices with and without P2P on purpose: the test vouches that
 * no device does peer-to-peer DMA, which QEMU 8.2's multi-device rule would otherwise
 * block (docs/embedding-in-a-vmm.md §3).
 */
export const MIXED_P2P: VfioV2Options = { allowMultiDeviceWithoutP2P: true };

/** One emulated device to attach. */
export interface DeviceSpec {
  /** Migration flags. */
  readonly flags: number;
  /** State size in bytes (default 64 KiB). */
  readonly stateSize?: number;
  /** Seed of the state bytes. */
  readonly seed?: number;
  /** Pages dirtied per data read while running. */
  readonly dirtyPagesPerRead?: number;
  /** Temporary end of pre-copy: ENOMSG (uAPI) or a 0 read (mtty). */
  readonly preCopyEmptyRead?: 'ENOMSG' | 'zero';
  /** Run-state priority. */
  readonly runStatePriority?: number;
  /** Wraps the device handle before it is attached (to inject ioctl faults). */
  readonly wrap?: (device: VfioDevice) => VfioDevice;
}

/** A device attached to a VM. */
export interface VmDevice {
  /** The emulated device, model and kernel. */
  readonly emulated: EmulatedDeviceSetup;
  /** What the attacher registered. */
  readonly attached: AttachedDevice;
  /** The device's migration (state, saver, loader). */
  readonly migration: VfioV2DeviceMigration;
}

/** A clock that moves 1 ms each time it is read, so 100 ms windows close after ~100 reads. */
export function tickingClock(): MigrationClock {
  let t = 1000;
  return {
    now: () => (t += 1),
    sleep: async (ms) => void (t += ms),
  };
}

/** One VM's worth of core services with emulated VFIO devices attached. */
export class Vm {
  readonly container = new Container();
  readonly devices: VmDevice[] = [];
  readonly provider: VfioV2Provider;
  readonly statuses: string[] = [];

  constructor(
    readonly options: VfioV2Options = {},
    initial: RunState = RunState.RUNNING,
  ) {
    this.container.load(coreContainerModule);
    this.container.rebind<MigrationClock>(MIGRATION_CLOCK).toConstantValue(tickingClock());
    this.provider = new VfioV2Provider((device) => ({ ...this.options, ...this.perDevice.get(device.name) }));
    this.container.bind(HANDLER_PROVIDER_TOKEN).toConstantValue(this.provider);
    this.runState.setState(initial);
    this.source.info$.subscribe((i) => {
      if (this.statuses[this.statuses.length - 1] !== i.status) this.statuses.push(i.status);
    });
  }

  private readonly perDevice = new Map<string, VfioV2Options>();

  get source(): MigrationSource {
    return this.container.get<MigrationSource>(MIGRATION_SOURCE);
  }
  get destination(): MigrationDestination {
    return this.container.get<MigrationDestination>(MIGRATION_DESTINATION);
  }
  get runState(): RunStateController {
    return this.container.get<RunStateController>(RUN_STATE_CONTROLLER);
  }
  get registry(): SaveStateRegistry {
    return this.container.get<SaveStateRegistry>(SAVE_STATE_REGISTRY);
  }
  get notifiers(): MigrationNotifiers {
    return this.container.get<MigrationNotifiers>(MIGRATION_NOTIFIERS);
  }
  get attacher(): DeviceMigrationAttacher {
    return this.container.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER);
  }

  /** Creates an emulated device named `0000:00:0N.0` and attaches it. */
  async addDevice(index: number, spec: DeviceSpec, seed: number): Promise<VmDevice> {
    const name = `0000:00:${(index + 3).toString(16).padStart(2, '0')}.0`;
    const emulated = createEmulatedDevice({
      name,
      protocol: 'v2',
      migrationFlags: spec.flags,
      stateSize: spec.stateSize ?? 64 * 1024,
      seed,
      dirtyPagesPerRead: spec.dirtyPagesPerRead ?? 0,
      preCopyEmptyRead: spec.preCopyEmptyRead ?? 'ENOMSG',
    });
    if (spec.runStatePriority !== undefined) this.perDevice.set(name, { runStatePriority: spec.runStatePriority });
    const handle = spec.wrap ? spec.wrap(emulated.device) : emulated.device;
    const attached = await this.attacher.attach(handle, name);
    const migration = this.provider.created.get(handle);
    if (migration === undefined) throw new Error('provider did not create the migration');
    const device = { emulated, attached, migration };
    this.devices.push(device);
    return device;
  }

  /** Closes every device (the emulated kernel's fds). */
  close(): void {
    for (const d of this.devices) d.emulated.device.close();
  }
}

/** A source and a destination VM with the same devices (different seeds on each side). */
export async function makePair(
  specs: readonly DeviceSpec[],
  options: VfioV2Options = {},
  destinationOptions: VfioV2Options = options,
): Promise<{ src: Vm; dst: Vm }> {
  const src = new Vm(options, RunState.RUNNING);
  const dst = new Vm(destinationOptions, RunState.INMIGRATE);
  for (const [i, spec] of specs.entries()) {
    await src.addDevice(i, spec, spec.seed ?? 1000 + i);
    await dst.addDevice(i, spec, 5000 + i);
  }
  return { src, dst };
}

/** Parameters that let the loop converge quickly in tests: unlimited bandwidth, a huge assumed switchover bandwidth. */
export const FAST: Partial<MigrationParameters> = { maxBandwidth: 0, availSwitchoverBandwidth: 1e12, maxIterations: 10_000 };

/** Migrates src into memory; returns the stream bytes and the info. */
export async function saveToMemory(src: Vm, params: Partial<MigrationParameters> = {}): Promise<{ bytes: Buffer; info: MigrationInfo }> {
  const channel = new MemoryWriteChannel();
  const info = await src.source.migrate(new QemuFileWriter(channel), { ...FAST, ...params });
  return { bytes: channel.bytes(), info };
}

/** Loads bytes into dst. */
export function loadFromMemory(dst: Vm, bytes: Uint8Array, autostart = true): Promise<MigrationInfo> {
  return dst.destination.load(new QemuFileReader(new MemoryReadChannel(bytes)), { autostart });
}

/** Migrates src → dst over a connected socket pair, both running at once (the return path for switchover-ack). */
export async function migrateOverSocket(
  src: Vm,
  dst: Vm,
  params: Partial<MigrationParameters> = {},
  withAck = false,
): Promise<{ source: MigrationInfo; destination: MigrationInfo }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const serverSide = await accepted;
  server.close();
  let acked = false;
  const gate = withAck ? { switchoverAck: { isAcknowledged: () => acked } } : {};
  try {
    const [source, destination] = await Promise.all([
      src.source.migrateToChannel(new SocketChannel(client), { ...FAST, ...gate, ...params }),
      dst.destination.loadFromChannel(new SocketChannel(serverSide), {
        autostart: true,
        // The ACK goes back as on QEMU's return path (here a stand-in that is always open).
        switchoverAck: true,
        returnPath: approvalsTo(() => {
          acked = true;
        }),
      }),
    ]);
    return { source, destination };
  } finally {
    client.destroy();
    serverSide.destroy();
  }
}

/** Number of open fds of this process. */
export function processFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/**
 * A destination return path that is open from the start and only reports switchover ACKs
 * (for tests that move the stream without a return path of their own).
 */
export function approvalsTo(onAck: () => void): DestinationReturnPath {
  return { isOpen: true, open: () => true, pong: () => undefined, switchoverAck: onAck, shut: async () => undefined };
}
