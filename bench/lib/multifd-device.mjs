// The emulated device of the multifd benchmarks (not a benchmark itself): stop-copy state
// only, sent on the multifd channels at switchover as QEMU 10.0 sends VFIO state.
//
// Source: `saveCompletePrecopyThread` reads the state in 1 MiB buffers (a VFIO device's
// data_fd read size) and sends each as one device-state packet: a be32 buffer index, then
// the bytes (the index is what QEMU's VFIO device-state packet header carries); its FULL
// section on the main stream says how many buffers to expect. Destination: `loadStateBuffer`
// queues buffers by index, and the load work `switchoverStart` starts writes them into the
// device's state strictly in order (as QEMU writes VFIO buffers into the data_fd), waiting
// for the next one when it has not come yet — QEMU 10.0's reorder queue.
/** Bytes of one buffer the device sends. */
export const DEVICE_CHUNK = 1 << 20;

export class ChannelStateDevice {
  /** @param {Buffer} state the device's state (source) or where it is loaded (destination, same size) */
  constructor(state) {
    this.state = state;
    this.buffers = new Map();
    this.expected = undefined;
    this.loadedBytes = 0;
    this.maxQueued = 0;
    this.wake = undefined;
  }

  get count() {
    return Math.ceil(this.state.length / DEVICE_CHUNK);
  }

  async saveCompletePrecopyThread(sender, _entry, signal) {
    const packet = Buffer.allocUnsafeSlow(4 + DEVICE_CHUNK);
    for (let i = 0; i < this.count; i++) {
      if (signal.aborted) throw new Error('aborted');
      const chunk = this.state.subarray(i * DEVICE_CHUNK, (i + 1) * DEVICE_CHUNK);
      packet.writeUInt32BE(i, 0);
      chunk.copy(packet, 4); // the device's read into the buffer
      // send() copies the bytes, so the buffer is free again once it resolves.
      await sender.send(chunk.length === DEVICE_CHUNK ? packet : packet.subarray(0, 4 + chunk.length));
    }
  }

  saveState(f) {
    f.putBe32(this.count);
  }

  async loadState(f) {
    this.expected = await f.getBe32();
    this.wake?.();
  }

  loadStateBuffer(data) {
    this.buffers.set(data.readUInt32BE(0), data.subarray(4));
    if (this.buffers.size > this.maxQueued) this.maxQueued = this.buffers.size;
    this.wake?.();
  }

  switchoverStart(_entry, context) {
    context?.startLoadThread(async (signal) => {
      signal.addEventListener('abort', () => this.wake?.(), { once: true });
      for (let i = 0; this.expected === undefined || i < this.expected; ) {
        const b = this.buffers.get(i);
        if (b !== undefined) {
          this.buffers.delete(i);
          b.copy(this.state, i * DEVICE_CHUNK); // the write into the device
          this.loadedBytes += b.length;
          i++;
          continue;
        }
        if (signal.aborted) throw new Error(`buffer ${i} never came`);
        await new Promise((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    });
  }
}
