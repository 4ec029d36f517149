import fs from 'node:fs';
import {
  DeviceMigrationAttacher,
  MigrationBlockers,
  MigrationDestination,
  MigrationNotifiers,
  MigrationSource,
  ProviderSelector,
  RunState,
  RunStateController,
  SaveStateRegistry,
  type HandlerProvider,
  type MigrationInfo,
  type MigrationParameters,
} from '@savevm/core';
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import {
  createEmulatedDevice,
  type EmulatedDeviceConfig,
  type EmulatedDeviceSetup,
  type EmulatedVfioKernel,
} from '@savevm/vfio/emulated';
import { VfioV1Provider } from '../../src/index.js';

/** One VM's worth of core services with the v1 provider bound. */
export class World {
  readonly registry = new SaveStateRegistry();
  readonly runState: RunStateController;
  readonly blockers = new MigrationBlockers();
  readonly notifiers = new MigrationNotifiers();
  readonly source: MigrationSource;
  readonly destination: MigrationDestination;
  readonly attacher: DeviceMigrationAttacher;

  constructor(initial: RunState = RunState.RUNNING, providers: readonly HandlerProvider[] = [new VfioV1Provider() as HandlerProvider]) {
    this.runState = new RunStateController(initial);
    this.source = new MigrationSource({ registry: this.registry, runState: this.runState, blockers: this.blockers, notifiers: this.notifiers });
    this.destination = new MigrationDestination({ registry: this.registry, runState: this.runState });
    this.attacher = new DeviceMigrationAttacher(new ProviderSelector([...providers]), this.registry, this.runState, this.notifiers, this.blockers);
  }
}

/** Parameters that make the live loop run until pending is 0 (or the cap). */
export const LIVE: Partial<MigrationParameters> = { maxBandwidth: 0, downtimeLimitMs: 0, maxIterations: 200, iterationCapPolicy: 'switchover' };

/** A v1 emulated device (64 KiB of state, 16 KiB data section unless told). */
export function v1Device(config: EmulatedDeviceConfig = {}, kernel?: EmulatedVfioKernel): EmulatedDeviceSetup {
  return createEmulatedDevice({ protocol: 'v1', stateSize: 64 * 1024, v1DataSectionSize: 16 * 1024, ...config }, kernel ? { kernel } : {});
}

/** Migrates `from` into memory. */
export async function saveToMemory(from: World, params: Partial<MigrationParameters> = LIVE): Promise<{ bytes: Buffer; info: MigrationInfo }> {
  const channel = new MemoryWriteChannel();
  const f = new QemuFileWriter(channel);
  const info = await from.source.migrate(f, params);
  return { bytes: channel.bytes(), info };
}

/** Loads bytes into `into` and starts its VM. */
export async function loadFromMemory(into: World, bytes: Uint8Array): Promise<MigrationInfo> {
  return into.destination.load(new QemuFileReader(new MemoryReadChannel(bytes)), { autostart: true });
}

/** The number of fds this process has open. */
export function processFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** A copy of a byte array. */
export function snapshot(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}
