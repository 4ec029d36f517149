/**
 * The faults armed on one emulated device: failing arcs, failing data reads and writes, a
 * failing reset. The protocol models ask here before they act (settings in `fault-settings.ts`).
 */
import type { ArcFault, DataFault } from './fault-settings.js';

/** The armed {@link ArcFault}s, each counted as it fires. */
export class ArcFaultList {
  #faults: ArcFault[] = [];
  readonly #uses = new Map<ArcFault, number>();

  /** Arms `fault`. */
  add(fault: ArcFault): void {
    this.#faults.push(fault);
  }

  /** The fault armed on the arc `from → to`, counted as fired (and disarmed after its last time); undefined when none. */
  take(from: number, to: number): ArcFault | undefined {
    const fault = this.#faults.find((f) => f.from === from && f.to === to);
    if (fault === undefined) return undefined;
    const used = (this.#uses.get(fault) ?? 0) + 1;
    this.#uses.set(fault, used);
    if (fault.times !== undefined && used >= fault.times) this.#faults = this.#faults.filter((f) => f !== fault);
    return fault;
  }

  /** Disarms every arc fault. */
  clear(): void {
    this.#faults = [];
    this.#uses.clear();
  }
}

/** One direction of data transfer (reads or writes) and the {@link DataFault} armed on it. */
export class DataFaultGate {
  #fault: DataFault | undefined;
  #used = 0;

  /** Arms `fault`, counting bytes from zero. */
  arm(fault: DataFault): void {
    this.#fault = fault;
    this.#used = 0;
  }

  /** Disarms the fault. */
  disarm(): void {
    this.#fault = undefined;
  }

  /** Bytes that may still go through before the fault fires (Infinity when none is armed). */
  remaining(): number {
    return this.#fault === undefined ? Infinity : this.#fault.afterBytes - this.#used;
  }

  /** The errno the armed fault fails with (0 when none is armed). */
  get errno(): number {
    return this.#fault?.errno ?? 0;
  }

  /** Counts `bytes` that went through (nothing is counted when no fault is armed). */
  record(bytes: number): void {
    if (this.#fault !== undefined) this.#used += bytes;
  }
}

/** Every fault armed on one device. */
export class DeviceFaults {
  /** Failing state arcs. */
  readonly arcs = new ArcFaultList();
  /** Failing data reads. */
  readonly reads = new DataFaultGate();
  /** Failing data writes. */
  readonly writes = new DataFaultGate();
  /** The errno VFIO_DEVICE_RESET fails with, if armed. */
  resetErrno: number | undefined;

  /** Disarms every fault. */
  clear(): void {
    this.arcs.clear();
    this.reads.disarm();
    this.writes.disarm();
    this.resetErrno = undefined;
  }
}
