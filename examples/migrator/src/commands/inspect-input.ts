/**
 * What `savevm inspect` reads: a file, a device or a pipe, into memory, up to a size limit
 * it documents (`--max-bytes`, default {@link DEFAULT_INSPECT_MAX_BYTES}); a stream with no
 * end (`/dev/zero`) is refused when it passes the limit, and an interrupt stops the reading
 * between two chunks (see `docs/design/hostile-input.md`, "Signals and endless input").
 */
import { open } from 'node:fs/promises';

/** The most bytes `inspect` reads unless `--max-bytes` says otherwise: 1 GiB. */
export const DEFAULT_INSPECT_MAX_BYTES = 1024 ** 3;

/** Bytes read at a time. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/** Why the input could not be read whole. */
export class InspectInputError extends Error {
  /**
   * @param reason `TOO_LARGE` beyond the limit, `INTERRUPTED` by a signal, `IO` a read failed
   * @param detail the one-line cause
   */
  constructor(
    readonly reason: 'TOO_LARGE' | 'INTERRUPTED' | 'IO',
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(detail, options);
    this.name = new.target.name;
  }
}

/**
 * Reads `file` whole: refuses a regular file larger than `maxBytes` before reading it, and
 * any other input once more than `maxBytes` arrived; stops when `signal` aborts.
 */
export async function readInspectInput(file: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
  const tooLarge = (what: string): InspectInputError =>
    new InspectInputError('TOO_LARGE', `${what} is larger than the ${maxBytes} bytes inspect reads (--max-bytes)`);
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw new InspectInputError('IO', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const stat = await handle.stat();
    if (stat.isFile() && stat.size > maxBytes) throw tooLarge(`${file} (${stat.size} bytes)`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      if (signal?.aborted) throw new InspectInputError('INTERRUPTED', `interrupted after reading ${total} bytes of ${file}`);
      const want = Math.min(CHUNK_BYTES, maxBytes + 1 - total);
      const chunk = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(chunk, 0, want, null);
      if (bytesRead === 0) break;
      chunks.push(bytesRead === want ? chunk : chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(file);
    }
    return Buffer.concat(chunks, total);
  } catch (err) {
    if (err instanceof InspectInputError) throw err;
    throw new InspectInputError('IO', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  } finally {
    await handle.close();
  }
}
