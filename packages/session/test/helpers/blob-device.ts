import type { SaveVMHandlers } from '@savevm/core';
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';

/** A non-live device whose whole state is one blob (a FULL section: be32 length + bytes). */
export class BlobDevice implements SaveVMHandlers {
  /** Hook calls, in order. */
  readonly calls: string[] = [];
  /** What the last load brought. */
  loaded: Buffer | undefined;
  constructor(readonly state: Buffer) {}
  saveState(f: QemuFileWriter): void {
    this.calls.push('saveState');
    f.putBe32(this.state.length);
    f.putBuffer(this.state);
  }
  async loadState(f: QemuFileReader, versionId: number): Promise<void> {
    this.calls.push(`loadState:v${versionId}`);
    const n = await f.getBe32();
    if (n > 1 << 20) throw new Error(`blob of ${n} bytes is too large`);
    this.loaded = await f.getBytes(n);
  }
  saveCleanup(): void {
    this.calls.push('saveCleanup');
  }
  loadCleanup(): void {
    this.calls.push('loadCleanup');
  }
}
