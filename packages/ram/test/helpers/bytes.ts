/** Hand-written bytes for the ram tests: hex with spaces and comments, readers and writers over memory. */
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';

/** Bytes from hex text; spaces, newlines and `# comments` are ignored, `"text"` is ASCII. */
export function hex(text: string): Buffer {
  const parts: Buffer[] = [];
  for (const line of text.split('\n')) {
    const code = line.replace(/#.*$/, '');
    for (const token of code.match(/"[^"]*"|[0-9a-fA-F]+/g) ?? []) {
      if (token.startsWith('"')) parts.push(Buffer.from(token.slice(1, -1), 'latin1'));
      else {
        if (token.length % 2 !== 0) throw new Error(`odd hex token ${token}`);
        parts.push(Buffer.from(token, 'hex'));
      }
    }
  }
  return Buffer.concat(parts);
}

/** A reader over `bytes`. */
export function readerOf(bytes: Uint8Array): QemuFileReader {
  return new QemuFileReader(new MemoryReadChannel(bytes));
}

/** A writer into memory and a way to get its bytes (flushed). */
export function memoryWriter(options: ConstructorParameters<typeof QemuFileWriter>[1] = {}): {
  readonly f: QemuFileWriter;
  bytes(): Promise<Buffer>;
} {
  const channel = new MemoryWriteChannel();
  const f = new QemuFileWriter(channel, options);
  return {
    f,
    async bytes() {
      await f.flush();
      return channel.bytes();
    },
  };
}

/** A deterministic pseudo-random generator (xorshift32) for page contents. */
export function seededBytes(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  return out;
}
