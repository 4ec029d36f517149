/**
 * `sendPages` copies the page data (the contract's "copied"): the RAM packer fills one
 * packet buffer again right after sending it, instead of allocating a fresh 512 KiB buffer
 * per packet — measured by bench/multifd-ram-capped.mjs, where those fresh buffers cost
 * about 128 page faults each on the source.
 */
import { QemuFileWriter, type WriteChannel } from '@savevm/stream';
import { MULTIFD_PAGE_SIZE } from '@savevm/stream/multifd';
import { describe, expect, it } from 'vitest';
import { MultifdSendChannels, multifdSettingsFor } from '../src/index.js';

/** A channel that takes its bytes only later (as a socket whose kernel buffer is full). */
class LateChannel implements WriteChannel {
  readonly taken: Buffer[] = [];

  writev(chunks: readonly Uint8Array[]): Promise<void> {
    return new Promise((resolve) =>
      setTimeout(() => {
        this.taken.push(Buffer.concat(chunks));
        resolve();
      }, 5),
    );
  }

  async close(): Promise<void> {}

  shutdown(): void {}
}

describe('multifd sendPages', () => {
  it('copies the pages: the caller may refill its buffer as soon as it returns', async () => {
    const channel = new LateChannel();
    const channels = new MultifdSendChannels([new QemuFileWriter(channel)], multifdSettingsFor('qemu-10.0', 1));
    const packet = Buffer.alloc(4 * MULTIFD_PAGE_SIZE);
    const sent: Buffer[] = [];
    for (let n = 0; n < 3; n++) {
      packet.fill(0x10 + n);
      sent.push(Buffer.from(packet));
      channels.sendPages('pc.ram', [0, 4096, 8192, 12288], [packet], []);
      packet.fill(0xee); // the packer's next packet
    }
    await channels.flush();
    const wire = Buffer.concat(channel.taken);
    let at = 0;
    for (const page of sent) {
      const found = wire.indexOf(page, at);
      expect(found).toBeGreaterThan(at);
      at = found + page.length;
    }
    expect(wire.includes(Buffer.alloc(MULTIFD_PAGE_SIZE, 0xee))).toBe(false);
  });
});
