import { MemoryReadChannel, MemoryWriteChannel } from '../src/channels/memory-channel.js';
import { QemuFileReader } from '../src/file/qemu-file-reader.js';
import { QemuFileWriter } from '../src/file/qemu-file-writer.js';
import type { StreamRecord } from '../src/grammar/records.js';
import { StreamParser, type StreamParserOptions } from '../src/grammar/stream-parser.js';

/** Runs `write` against an in-memory writer and returns the bytes. */
export async function bytesOf(write: (f: QemuFileWriter) => void | Promise<void>): Promise<Buffer> {
  const channel = new MemoryWriteChannel();
  const f = new QemuFileWriter(channel);
  await write(f);
  await f.flush();
  return channel.bytes();
}

/** A reader over bytes in memory. */
export function readerOf(bytes: Uint8Array): QemuFileReader {
  return new QemuFileReader(new MemoryReadChannel(bytes));
}

/** Parses every record; section bodies are consumed by `body` (default: nothing to consume). */
export async function parseAll(
  bytes: Uint8Array,
  body: (record: StreamRecord, r: QemuFileReader) => Promise<void> = async () => undefined,
  options: StreamParserOptions = {},
): Promise<StreamRecord[]> {
  const reader = readerOf(bytes);
  const parser = new StreamParser(reader, options);
  const out: StreamRecord[] = [];
  for (;;) {
    const rec = await parser.next();
    if (!rec) return out;
    out.push(rec);
    await body(rec, reader);
  }
}

/** Hex string → bytes (spaces ignored). */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}
