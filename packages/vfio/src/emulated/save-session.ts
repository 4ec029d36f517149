/**
 * The saving side of an emulated data session: produces the image stream from the device state,
 * tracking which pages were dirtied after being sent so pre-copy can resend them.
 */
import { crc32 } from './checksum.js';
import type { DeviceStateBytes } from './device-state.js';
import {
  IMAGE_HEADER_SIZE,
  RECORD_HEADER_SIZE,
  TAG_DONE,
  TAG_PAGE,
  encodeImageHeader,
  encodeRecordHeader,
} from './image-format.js';

type Chunk = { readonly bytes: Uint8Array; readonly kind: 'initial' | 'dirty' | 'end' };

/** A saving session: the stream shared by PRE_COPY, PRE_COPY_P2P and STOP_COPY. */
export class SaveSession {
  /** Set once the session is over (state left, reset): reads answer ENODEV. */
  ended = false;
  readonly #state: DeviceStateBytes;
  readonly #dirty = new Set<number>();
  readonly #unsubscribe: () => void;
  #final: boolean;
  #headerSent = false;
  #nextInitialPage = 0;
  #current: Chunk | undefined;
  #currentPos = 0;
  #endEmitted = false;
  /** Bytes handed out so far. */
  bytesRead = 0;

  /** Starts a session; `final` = STOP_COPY (ends with the end record), else pre-copy. */
  constructor(state: DeviceStateBytes, final: boolean) {
    this.#state = state;
    this.#final = final;
    this.#unsubscribe = state.onDirty((page) => {
      if (page < this.#nextInitialPage) this.#dirty.add(page);
    });
  }

  /** Whether the session is in its final (STOP_COPY) phase. */
  get final(): boolean {
    return this.#final;
  }

  /** Enters the final phase (PRE_COPY[_P2P]→STOP_COPY keeps the same stream). */
  enterFinalPhase(): void {
    this.#final = true;
  }

  /** Ends the session (ENODEV from now on). */
  end(): void {
    this.ended = true;
    this.#unsubscribe();
  }

  /** Bytes of the initial pass still to read (header and pages not yet read). */
  initialBytes(): number {
    let bytes = this.#headerSent ? 0 : IMAGE_HEADER_SIZE;
    for (let page = this.#nextInitialPage; page < this.#state.pageCount; page++) {
      bytes += RECORD_HEADER_SIZE + this.#state.pageLength(page);
    }
    if (this.#current?.kind === 'initial') bytes += this.#current.bytes.byteLength - this.#currentPos;
    return bytes;
  }

  /** Bytes of dirtied pages waiting to be resent. */
  dirtyBytes(): number {
    let bytes = 0;
    for (const page of this.#dirty) bytes += RECORD_HEADER_SIZE + this.#state.pageLength(page);
    if (this.#current?.kind === 'dirty') bytes += this.#current.bytes.byteLength - this.#currentPos;
    return bytes;
  }

  /** Everything still to come: in the final phase this is exact (includes the end record). */
  remainingBytes(): number {
    const endBytes = this.#final && !this.#endEmitted ? RECORD_HEADER_SIZE : 0;
    const endInFlight = this.#current?.kind === 'end' ? this.#current.bytes.byteLength - this.#currentPos : 0;
    return this.initialBytes() + this.dirtyBytes() + endBytes + endInFlight;
  }

  /**
   * Copies up to `into.byteLength` stream bytes into `into`. Returns the count; 0 means the
   * end in the final phase, or nothing for now in pre-copy.
   */
  read(into: Uint8Array): number {
    let done = 0;
    while (done < into.byteLength) {
      if (this.#current === undefined || this.#currentPos >= this.#current.bytes.byteLength) {
        this.#current = this.#nextChunk();
        this.#currentPos = 0;
        if (this.#current === undefined) break;
      }
      const chunk = this.#current.bytes;
      const n = Math.min(into.byteLength - done, chunk.byteLength - this.#currentPos);
      into.set(chunk.subarray(this.#currentPos, this.#currentPos + n), done);
      this.#currentPos += n;
      done += n;
    }
    this.bytesRead += done;
    return done;
  }

  #nextChunk(): Chunk | undefined {
    if (!this.#headerSent) {
      this.#headerSent = true;
      return { bytes: encodeImageHeader(this.#state.bytes.byteLength, this.#state.pageSize), kind: 'initial' };
    }
    if (this.#nextInitialPage < this.#state.pageCount) {
      const page = this.#nextInitialPage++;
      return { bytes: this.#pageRecord(page), kind: 'initial' };
    }
    const dirtyPage = this.#dirty.values().next();
    if (!dirtyPage.done) {
      this.#dirty.delete(dirtyPage.value);
      return { bytes: this.#pageRecord(dirtyPage.value), kind: 'dirty' };
    }
    if (this.#final && !this.#endEmitted) {
      this.#endEmitted = true;
      return {
        bytes: encodeRecordHeader(TAG_DONE, crc32(this.#state.bytes), this.#state.bytes.byteLength),
        kind: 'end',
      };
    }
    return undefined;
  }

  #pageRecord(page: number): Uint8Array {
    const data = this.#state.page(page);
    const out = new Uint8Array(RECORD_HEADER_SIZE + data.byteLength);
    out.set(encodeRecordHeader(TAG_PAGE, page, data.byteLength));
    out.set(data, RECORD_HEADER_SIZE);
    return out;
  }
}
