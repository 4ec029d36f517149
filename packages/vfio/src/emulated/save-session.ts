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
} from './image-format.js';

/** What a read is in the middle of: the image header, a page record, or the end record. */
type RecordKind = 'initial' | 'dirty' | 'end';

/**
 * The record being handed out: its header (in the session's scratch bytes) and, for a page,
 * the page's bytes, copied straight from the state into the reader's buffer (no record is
 * built per page: bench/README.md, multifd "Where the time goes").
 */
interface RecordCursor {
  kind: RecordKind;
  headLength: number;
  headPos: number;
  bodyStart: number;
  bodyLength: number;
  bodyPos: number;
}

/** A saving session: the stream shared by PRE_COPY, PRE_COPY_P2P and STOP_COPY. */
export class SaveSession {
  /** Set once the session is over (state left, reset): reads answer ENODEV. */
  ended = false;
  readonly #state: DeviceStateBytes;
  readonly #dirty = new Set<number>();
  readonly #unsubscribe: () => void;
  /** Scratch bytes of the header being handed out (image header or record header). */
  readonly #head = new Uint8Array(IMAGE_HEADER_SIZE);
  readonly #headView = new DataView(this.#head.buffer);
  #final: boolean;
  #headerSent = false;
  #nextInitialPage = 0;
  #cursor: RecordCursor | undefined;
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
    const state = this.#state;
    const pagesLeft = state.pageCount - this.#nextInitialPage;
    // Every page but the last is whole, so the pages left hold the state's bytes from the next one on.
    const pageBytesLeft = pagesLeft > 0 ? state.bytes.byteLength - this.#nextInitialPage * state.pageSize : 0;
    const header = this.#headerSent ? 0 : IMAGE_HEADER_SIZE;
    return header + pagesLeft * RECORD_HEADER_SIZE + pageBytesLeft + this.#inFlight('initial');
  }

  /** Bytes of dirtied pages waiting to be resent. */
  dirtyBytes(): number {
    let bytes = 0;
    for (const page of this.#dirty) bytes += RECORD_HEADER_SIZE + this.#state.pageLength(page);
    return bytes + this.#inFlight('dirty');
  }

  /** Everything still to come: in the final phase this is exact (includes the end record). */
  remainingBytes(): number {
    const endBytes = this.#final && !this.#endEmitted ? RECORD_HEADER_SIZE : 0;
    return this.initialBytes() + this.dirtyBytes() + endBytes + this.#inFlight('end');
  }

  /**
   * Copies up to `into.byteLength` stream bytes into `into`. Returns the count; 0 means the
   * end in the final phase, or nothing for now in pre-copy.
   */
  read(into: Uint8Array): number {
    const state = this.#state.bytes;
    const head = this.#head;
    let done = 0;
    while (done < into.byteLength) {
      let cursor = this.#cursor;
      if (cursor === undefined) {
        cursor = this.#nextRecord();
        if (cursor === undefined) break;
        this.#cursor = cursor;
      }
      while (cursor.headPos < cursor.headLength && done < into.byteLength) {
        into[done++] = head[cursor.headPos++] ?? 0;
      }
      const n = Math.min(into.byteLength - done, cursor.bodyLength - cursor.bodyPos);
      if (n > 0) {
        const from = cursor.bodyStart + cursor.bodyPos;
        into.set(state.subarray(from, from + n), done);
        cursor.bodyPos += n;
        done += n;
      }
      if (cursor.headPos === cursor.headLength && cursor.bodyPos === cursor.bodyLength) this.#cursor = undefined;
    }
    this.bytesRead += done;
    return done;
  }

  /** Bytes of the record being handed out that are still to read, if it is of `kind`. */
  #inFlight(kind: RecordKind): number {
    const cursor = this.#cursor;
    if (cursor?.kind !== kind) return 0;
    return cursor.headLength - cursor.headPos + cursor.bodyLength - cursor.bodyPos;
  }

  #nextRecord(): RecordCursor | undefined {
    if (!this.#headerSent) {
      this.#headerSent = true;
      this.#head.set(encodeImageHeader(this.#state.bytes.byteLength, this.#state.pageSize));
      return { kind: 'initial', headLength: IMAGE_HEADER_SIZE, headPos: 0, bodyStart: 0, bodyLength: 0, bodyPos: 0 };
    }
    if (this.#nextInitialPage < this.#state.pageCount) {
      return this.#pageRecord(this.#nextInitialPage++, 'initial');
    }
    const dirtyPage = this.#dirty.values().next();
    if (!dirtyPage.done) {
      this.#dirty.delete(dirtyPage.value);
      return this.#pageRecord(dirtyPage.value, 'dirty');
    }
    if (this.#final && !this.#endEmitted) {
      this.#endEmitted = true;
      this.#writeRecordHeader(TAG_DONE, crc32(this.#state.bytes), this.#state.bytes.byteLength);
      return { kind: 'end', headLength: RECORD_HEADER_SIZE, headPos: 0, bodyStart: 0, bodyLength: 0, bodyPos: 0 };
    }
    return undefined;
  }

  /**
   * A page record. Its bytes are read from the state as they are handed out: a write to the
   * page meanwhile marks it dirty (it is below the initial pass), so it is sent again.
   */
  #pageRecord(page: number, kind: RecordKind): RecordCursor {
    const length = this.#state.pageLength(page);
    this.#writeRecordHeader(TAG_PAGE, page, length);
    return { kind, headLength: RECORD_HEADER_SIZE, headPos: 0, bodyStart: page * this.#state.pageSize, bodyLength: length, bodyPos: 0 };
  }

  #writeRecordHeader(tag: number, a: number, b: number): void {
    this.#headView.setUint32(0, tag, true);
    this.#headView.setUint32(4, a >>> 0, true);
    this.#headView.setUint32(8, b >>> 0, true);
  }
}
