import { MemoryWriteChannel, QemuFileWriter } from '@savevm/stream';

/** Runs `write` against an in-memory writer and returns the bytes. */
export async function bytesOf(write: (f: QemuFileWriter) => void | Promise<void>): Promise<Buffer> {
  const channel = new MemoryWriteChannel();
  const f = new QemuFileWriter(channel);
  await write(f);
  await f.flush();
  return channel.bytes();
}
