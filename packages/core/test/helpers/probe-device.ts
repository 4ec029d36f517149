import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';
import type { PendingBytes, SaveVMHandlers, SaveVMHook } from '../../src/index.js';

/** What a probe does when one of its hooks is called. */
export type HookAction = (hook: SaveVMHook) => void | Promise<void>;

/**
 * A live device with every source hook, logging into a shared event list. It reports
 * 100 pending bytes until it has iterated once, so every hook of the loop runs.
 */
export class ProbeDevice implements SaveVMHandlers {
  iterated = 0;
  constructor(
    readonly name: string,
    readonly events: string[],
    readonly onHook: HookAction = () => undefined,
  ) {}
  private async hit(hook: SaveVMHook): Promise<void> {
    this.events.push(`${this.name}:${hook}`);
    await this.onHook(hook);
  }
  async savePrepare(): Promise<void> {
    await this.hit('savePrepare');
  }
  async saveSetup(f: QemuFileWriter): Promise<void> {
    await this.hit('saveSetup');
    f.putBe32(1);
  }
  async statePendingEstimate(): Promise<PendingBytes> {
    await this.hit('statePendingEstimate');
    return { mustPrecopy: this.iterated > 0 ? 0 : 100, canPostcopy: 0 };
  }
  async statePendingExact(): Promise<PendingBytes> {
    await this.hit('statePendingExact');
    return { mustPrecopy: 0, canPostcopy: 0 };
  }
  async saveLiveIterate(f: QemuFileWriter): Promise<boolean> {
    await this.hit('saveLiveIterate');
    this.iterated++;
    f.putBe32(2);
    return true;
  }
  async saveLiveCompletePrecopy(f: QemuFileWriter): Promise<void> {
    await this.hit('saveLiveCompletePrecopy');
    f.putBe32(3);
  }
  async saveState(f: QemuFileWriter): Promise<void> {
    await this.hit('saveState');
    f.putBe32(4);
  }
  saveCleanup(): void {
    this.events.push(`${this.name}:saveCleanup`);
  }
  async loadSetup(): Promise<void> {
    await this.hit('loadSetup');
  }
  async loadState(f: QemuFileReader): Promise<void> {
    await this.hit('loadState');
    await f.getBe32();
  }
  async loadCleanup(): Promise<void> {
    this.events.push(`${this.name}:loadCleanup`);
    await this.onHook('loadCleanup');
  }
}

/** How many times `event` occurs. */
export function countOf(events: readonly string[], event: string): number {
  return events.filter((e) => e === event).length;
}
