// A minimal VfioDevice stand-in for bench/vfio-v2-1gib.mjs whose data file is a real pipe fd
// (fed or drained by another process), standing in for a kernel data_fd. It implements only
// what the VFIO v2 handlers use: GET MIGRATION (STOP_COPY), the state machine as a plain
// variable, MIG_DATA_SIZE, and a data file doing plain synchronous read(2)/write(2) on the
// pipe into the handler's page-aligned buffer (the fastest Node form,
// ../shared/notes/stack-and-limits.md §4).
import * as fs from 'node:fs';
import { MigState, VfioMigrationFlags } from '@savevm/vfio';

const END = Object.freeze({ kind: 'end' });

/** A VfioDataFile over a pipe fd; close() does not close the fd (the benchmark owns it). */
export class PipeDataFile {
  constructor(fd, direction) {
    this.fd = fd;
    this.direction = direction;
    this.closed = false;
  }
  async read(into) {
    const n = fs.readSync(this.fd, into, 0, into.byteLength, null);
    return n > 0 ? { kind: 'data', bytes: n } : END;
  }
  async write(from) {
    let off = 0;
    while (off < from.byteLength) off += fs.writeSync(this.fd, from, off, from.byteLength - off, null);
  }
  close() {
    this.closed = true;
  }
}

/** The device stand-in: saving reads `sourceFd`, resuming writes `sinkFd`. */
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
    if (from === MigState.STOP && target === MigState.STOP_COPY) return { dataFile: new PipeDataFile(this.sourceFd, 'saving') };
    if (target === MigState.RESUMING && from !== MigState.RESUMING) return { dataFile: new PipeDataFile(this.sinkFd, 'resuming') };
    return {};
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
