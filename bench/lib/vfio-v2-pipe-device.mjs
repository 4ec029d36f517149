// A minimal VfioDevice stand-in for bench/vfio-v2-1gib.mjs whose data file is a real pipe fd
// (fed or drained by another process), standing in for a kernel data_fd. It implements only
// what the VFIO v2 handlers use: GET MIGRATION (STOP_COPY), the state machine as a plain
// variable, MIG_DATA_SIZE. The data file is the one the kernel path uses: @savevm/vfio's
// FdDataFile over LibcSyscalls (libuv read/write, koffi FIONREAD/splice), on the pipe fd; it
// owns the fd from then on (closing the data file closes the pipe end).
import { FdDataFile, LibcSyscalls, MigState, VfioMigrationFlags } from '@savevm/vfio';

const sys = new LibcSyscalls();

/** The device stand-in: saving reads `sourceFd`, resuming writes `sinkFd` (each owned by the data file it becomes). */
export class PipeStandInDevice {
  constructor(name, { sourceFd, sinkFd, stopCopySize }) {
    this.name = name;
    this.closed = false;
    this.state = MigState.RUNNING;
    this.sourceFd = sourceFd;
    this.sinkFd = sinkFd;
    this.stopCopySize = stopCopySize;
  }
  getMigrationFlags() {
    return VfioMigrationFlags.STOP_COPY;
  }
  probeMigrationFlags() {
    return VfioMigrationFlags.STOP_COPY;
  }
  getState() {
    return this.state;
  }
  setState(target) {
    const from = this.state;
    this.state = target;
    if (from === MigState.STOP && target === MigState.STOP_COPY) return { dataFile: this.#open(this.sourceFd, 'saving') };
    if (target === MigState.RESUMING && from !== MigState.RESUMING) return { dataFile: this.#open(this.sinkFd, 'resuming') };
    return {};
  }
  #open(fd, direction) {
    const owner = { name: this.name, lastKnownState: () => this.state, forget: () => undefined };
    return new FdDataFile(sys, fd, direction, owner);
  }
  getStopCopySize() {
    return this.stopCopySize;
  }
  getPrecopyInfo() {
    throw Object.assign(new Error('no PRE_COPY'), { code: 'ENOTTY' });
  }
  reset() {
    this.state = MigState.RUNNING;
  }
  close() {
    this.closed = true;
  }
  getInfo() {
    throw new Error('not emulated');
  }
  getRegionInfo() {
    throw new Error('not emulated');
  }
  findRegionByType() {
    return undefined;
  }
  readRegion() {
    throw new Error('not emulated');
  }
  writeRegion() {
    throw new Error('not emulated');
  }
}
