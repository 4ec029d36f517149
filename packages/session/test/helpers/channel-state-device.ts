import type { DeviceStateSender, SaveStateEntryInfo, SaveVMHandlers, SwitchoverStartContext } from '@savevm/core';
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';

/** Bytes of one buffer the device sends. */
const CHUNK = 1 << 20;

/**
 * A device whose stop-copy state travels on multifd channels in numbered buffers (a be32
 * index, then the bytes), put back in order on the destination by work started at
 * switchover; its FULL section on the main stream says how many buffers to expect.
 */
export class ChannelStateDevice implements SaveVMHandlers {
  /** Hook calls, in order. */
  readonly calls: string[] = [];
  /** What the last load brought. */
  loaded: Buffer | undefined;
  /** Makes the save thread fail after this many buffers. */
  failAfter: number | undefined;
  private readonly buffers = new Map<number, Buffer>();
  private expected: number | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly state: Buffer) {}

  private get count(): number {
    return Math.ceil(this.state.length / CHUNK);
  }

  async saveCompletePrecopyThread(sender: DeviceStateSender, _entry: SaveStateEntryInfo, signal: AbortSignal): Promise<void> {
    this.calls.push('saveCompletePrecopyThread');
    for (let i = 0; i < this.count; i++) {
      if (signal.aborted) throw new Error('aborted');
      if (this.failAfter !== undefined && i >= this.failAfter) throw new Error(`device read failed at buffer ${i}`);
      const chunk = this.state.subarray(i * CHUNK, (i + 1) * CHUNK);
      const packet = Buffer.alloc(4 + chunk.length);
      packet.writeUInt32BE(i, 0);
      chunk.copy(packet, 4);
      await sender.send(packet);
    }
  }

  saveState(f: QemuFileWriter): void {
    this.calls.push('saveState');
    f.putBe32(this.count);
  }

  async loadState(f: QemuFileReader): Promise<void> {
    this.expected = await f.getBe32();
    this.wake?.();
  }

  loadStateBuffer(data: Buffer): void {
    this.buffers.set(data.readUInt32BE(0), data.subarray(4));
    this.wake?.();
  }

  switchoverStart(_entry: SaveStateEntryInfo, context?: SwitchoverStartContext): void {
    this.calls.push('switchoverStart');
    context?.startLoadThread(async (signal) => {
      const parts: Buffer[] = [];
      for (let i = 0; this.expected === undefined || i < this.expected; ) {
        const b = this.buffers.get(i);
        if (b !== undefined) {
          parts.push(b);
          i++;
          continue;
        }
        if (signal.aborted) throw new Error(`buffer ${i} never came`);
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
      this.loaded = Buffer.concat(parts);
    });
  }

  saveCleanup(): void {
    this.calls.push('saveCleanup');
  }

  loadCleanup(): void {
    this.calls.push('loadCleanup');
  }
}
