/**
 * A VfioDevice stand-in whose data file is the kernel path's FdDataFile (LibcSyscalls) over a
 * real pipe, standing in for a kernel data_fd (as bench/lib/vfio-v2-pipe-device.mjs), and a
 * one-device source/destination without the container.
 */
import { createRequire } from 'node:module';
import {
  MigrationBlockers,
  MigrationDestination,
  MigrationNotifiers,
  MigrationSource,
  RunState,
  RunStateController,
  SaveStateRegistry,
  type MigrationInfo,
} from '@savevm/core';
import { INSTANCE_ID_ANY, type QemuFileReader, type QemuFileWriter } from '@savevm/stream';
import {
  FdDataFile,
  LibcSyscalls,
  MigState,
  VfioMigrationFlags,
  type SetStateResult,
  type VfioDataFile,
  type VfioDevice,
} from '@savevm/vfio';
import { VfioV2DeviceMigration } from '../../src/index.js';

interface Koffi {
  load(p: string): { func(decl: string): (...args: unknown[]) => number };
}
const libc = (createRequire(import.meta.url)('koffi') as Koffi).load('libc.so.6');
const pipe2 = libc.func('int pipe2(_Out_ int *fds, int flags)');
const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');

/** A pipe [read end, write end] (O_CLOEXEC), its capacity set when given (F_SETPIPE_SZ). */
export function makePipe(capacity?: number): [number, number] {
  const fds = [0, 0];
  if (pipe2(fds, 0o2000000) !== 0) throw new Error('pipe2 failed');
  if (capacity !== undefined && fcntl(fds[1], 1031, capacity) < 0) throw new Error('F_SETPIPE_SZ failed');
  return [fds[0]!, fds[1]!];
}

/** The stand-in: saving reads `sourceFd`, resuming writes `sinkFd`; `wrapFile` may wrap each data file. */
export class PipeDevice implements Pick<VfioDevice, 'name' | 'closed' | 'getMigrationFlags' | 'probeMigrationFlags' | 'getState' | 'setState' | 'getStopCopySize' | 'getPrecopyInfo' | 'reset' | 'close'> {
  closed = false;
  state: MigState = MigState.RUNNING;
  readonly files: VfioDataFile[] = [];

  constructor(
    readonly name: string,
    private readonly fds: { sourceFd: number; sinkFd: number; stopCopySize: number },
    private readonly wrapFile: (file: FdDataFile) => VfioDataFile = (f) => f,
  ) {}

  getMigrationFlags(): number {
    return VfioMigrationFlags.STOP_COPY;
  }
  probeMigrationFlags(): number {
    return VfioMigrationFlags.STOP_COPY;
  }
  getState(): MigState {
    return this.state;
  }
  setState(target: MigState): SetStateResult {
    const from = this.state;
    this.state = target;
    if (from === MigState.STOP && target === MigState.STOP_COPY) return { dataFile: this.#open(this.fds.sourceFd, 'saving') };
    if (target === MigState.RESUMING && from !== MigState.RESUMING) return { dataFile: this.#open(this.fds.sinkFd, 'resuming') };
    return {};
  }
  getStopCopySize(): number {
    return this.fds.stopCopySize;
  }
  getPrecopyInfo(): never {
    throw Object.assign(new Error('no PRE_COPY'), { code: 'ENOTTY' });
  }
  reset(): void {
    this.state = MigState.RUNNING;
  }
  close(): void {
    this.closed = true;
  }
  #open(fd: number, direction: 'saving' | 'resuming'): VfioDataFile {
    const owner = { name: this.name, lastKnownState: () => this.state, forget: () => undefined };
    const file = this.wrapFile(new FdDataFile(new LibcSyscalls(), fd, direction, owner));
    this.files.push(file);
    return file;
  }
}

function registryWith(device: PipeDevice, runState: RunStateController): SaveStateRegistry {
  const registry = new SaveStateRegistry();
  const migration = new VfioV2DeviceMigration(device as unknown as VfioDevice, VfioMigrationFlags.STOP_COPY, { preCopy: false });
  const spec = migration.spec();
  registry.register(spec.idstr, INSTANCE_ID_ANY, spec.versionId, spec.handlers);
  if (spec.runStateHandler) runState.addChangeHandler(spec.runStateHandler, { name: spec.idstr });
  return registry;
}

/** Runs the whole source driver for one device into `writer`. */
export async function saveDevice(device: PipeDevice, writer: QemuFileWriter): Promise<MigrationInfo> {
  const runState = new RunStateController(RunState.RUNNING);
  const registry = registryWith(device, runState);
  const source = new MigrationSource({ registry, runState, blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
  return source.migrate(writer, { maxBandwidth: 0, maxIterations: 0 });
}

/** Runs the whole destination driver for one device from `reader`. */
export async function loadDevice(device: PipeDevice, reader: QemuFileReader): Promise<MigrationInfo> {
  const runState = new RunStateController(RunState.INMIGRATE);
  const registry = registryWith(device, runState);
  return new MigrationDestination({ registry, runState }).load(reader, { autostart: true });
}
