/**
 * Where a body decoder reads its bytes. A decoder is written once, as a generator: it asks
 * its source for bytes (`take`, `skip`, `window`) and then yields; the bytes asked for are
 * then in `buf` from `at`. Over bytes held in memory (what `inspectStream` has) the source
 * serves every request at once and the decoder runs synchronously, with no promise and no
 * buffer per section; over a {@link QemuFileReader} the driver awaits the reader between
 * steps (see `docs/design/hostile-input.md`, "Cost").
 */
import { StreamTruncatedError, type QemuFileReader } from '@savevm/stream';

/** A body decoder: yields after each request to its source, returns what it decoded. */
export type BodyDecoder<T> = Generator<undefined, T, undefined>;

const EMPTY = Buffer.alloc(0);

/** The bytes a decoder reads, one request at a time. */
export abstract class BodySource {
  /** After a request: the buffer holding the bytes asked for. */
  buf: Buffer = EMPTY;
  /** After a request: where in {@link buf} they start. */
  at = 0;
  /** After a request: where in {@link buf} they end. */
  end = 0;

  /** Stream offset of the next byte to be read. */
  abstract get offset(): number;

  /**
   * Asks for the next `n` bytes (consumed); yield, then read `buf[at .. at + n)`.
   * @param what names them for a truncation error, followed by `name` when given (so that
   *   no message is built unless it is needed)
   */
  abstract take(n: number, what: string, name?: string): void;

  /** Asks to skip `n` bytes; yield before the next request. */
  abstract skip(n: number, what: string): void;

  /**
   * Asks to see, without consuming them, at least `n` next bytes (fewer only at the end of
   * the stream) and whatever else is at hand; yield, then look at `buf[at .. end)`.
   */
  abstract window(n: number): void;
}

/** Names what ran out, for a truncation error. */
function named(what: string, name: string | undefined): string {
  return name === undefined ? what : `${what} ${name}`;
}

/** A source over bytes in memory: every request is served at once, or fails at once. */
export class MemoryBodySource extends BodySource {
  /** Largest window handed out (a decoder scans it and asks for the next). */
  static readonly WINDOW = 64 * 1024;
  private pos: number;

  /**
   * @param bytes the whole stream (offsets are positions in it)
   * @param start where the body starts
   */
  constructor(bytes: Buffer, start: number) {
    super();
    this.buf = bytes;
    this.pos = start;
  }

  /** Stream offset of the next byte to be read. */
  get offset(): number {
    return this.pos;
  }

  /** Starts over at `start` (for the next body); returns this source. */
  reset(start: number): this {
    this.pos = start;
    this.at = this.end = start;
    return this;
  }

  /** Takes `n` bytes, or throws a truncation error at the end of the bytes. */
  take(n: number, what: string, name?: string): void {
    const at = this.pos;
    if (n > this.buf.length - at) throw new StreamTruncatedError(this.buf.length, named(what, name));
    this.at = at;
    this.end = at + n;
    this.pos = at + n;
  }

  /** Skips `n` bytes, or throws a truncation error at the end of the bytes. */
  skip(n: number, what: string): void {
    if (n > this.buf.length - this.pos) throw new StreamTruncatedError(this.buf.length, what);
    this.pos += n;
  }

  /** Shows up to {@link MemoryBodySource.WINDOW} next bytes (at least `n` when there are). */
  window(n: number): void {
    this.at = this.pos;
    this.end = Math.min(this.buf.length, this.pos + Math.max(n, MemoryBodySource.WINDOW));
  }
}

/** Runs a decoder over a {@link MemoryBodySource} to its end (synchronously). */
export function decodeInMemory<T>(decoder: BodyDecoder<T>): T {
  for (;;) {
    const step = decoder.next();
    if (step.done === true) return step.value;
  }
}

/** A source over a reader: records each request, which {@link decodeFromReader} then serves. */
class ReaderBodySource extends BodySource {
  private request: 'take' | 'skip' | 'window' | undefined;
  private n = 0;
  private what = '';
  private name: string | undefined;

  constructor(private readonly r: QemuFileReader) {
    super();
  }

  /** Stream offset of the next byte to be read. */
  get offset(): number {
    return this.r.offset;
  }

  take(n: number, what: string, name?: string): void {
    this.set('take', n, what, name);
  }

  skip(n: number, what: string): void {
    this.set('skip', n, what, undefined);
  }

  window(n: number): void {
    this.set('window', n, '', undefined);
  }

  private set(request: 'take' | 'skip' | 'window', n: number, what: string, name: string | undefined): void {
    this.request = request;
    this.n = n;
    this.what = what;
    this.name = name;
  }

  /** Serves the request the decoder made before it yielded. */
  async serve(): Promise<void> {
    const { r, n } = this;
    const request = this.request;
    this.request = undefined;
    switch (request) {
      case 'take':
        if (n <= r.lookAheadLimit) {
          await r.ensure(n, named(this.what, this.name));
          this.buf = r.takeView(n);
        } else {
          this.buf = await r.getBytes(n, named(this.what, this.name));
        }
        this.at = 0;
        this.end = n;
        return;
      case 'skip':
        await r.skip(n, this.what);
        return;
      case 'window':
        await r.peek(Math.min(n, r.lookAheadLimit));
        this.buf = await r.peek(Math.max(r.available, Math.min(n, r.lookAheadLimit)));
        this.at = 0;
        this.end = this.buf.length;
        return;
      case undefined:
        return;
    }
  }
}

/** Runs a decoder over a reader, awaiting the reader for each request. */
export async function decodeFromReader<T>(r: QemuFileReader, decoder: (source: BodySource) => BodyDecoder<T>): Promise<T> {
  const source = new ReaderBodySource(r);
  const running = decoder(source);
  let step = running.next();
  for (;;) {
    if (step.done === true) return step.value;
    try {
      await source.serve();
    } catch (err) {
      // Into the decoder, so that its `finally` blocks run; it rethrows.
      step = running.throw(err);
      continue;
    }
    step = running.next();
  }
}
