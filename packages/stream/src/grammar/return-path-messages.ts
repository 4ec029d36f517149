/**
 * QEMU's return-path messages: what a destination sends back to its source on the same
 * connection (`be16 type, be16 length, length bytes`), their fixed lengths, and the checks
 * a QEMU source applies before it believes one. The layout and the rules are described in
 * `docs/design/return-path.md`.
 */

/** QEMU's `enum mig_rp_message_type` (QEMU 10.0), and one savevm extension. */
export const ReturnPathMessage = {
  /** 0: never valid. */
  INVALID: 0,
  /** 1, be32 status: the destination is done; 0 = loaded, nonzero = it failed. */
  SHUT: 1,
  /** 2, be32: the echo of a PING's value. */
  PONG: 2,
  /** 3, be64 start + be32 length + u8 n + n bytes of block idstr: a postcopy page request naming a block. */
  REQ_PAGES_ID: 3,
  /** 4, be64 start + be32 length: a postcopy page request in the last-named block. */
  REQ_PAGES: 4,
  /** 5, u8 n + n bytes of block idstr: postcopy recovery asks for a received bitmap. */
  RECV_BITMAP: 5,
  /** 6, be32 1: postcopy recovery acknowledged. */
  RESUME_ACK: 6,
  /** 7, no payload (QEMU 8.1+): every device loaded its initial data; the source may switch over. */
  SWITCHOVER_ACK: 7,
} as const;

/** The first type QEMU 10.0 rejects as invalid (`MIG_RP_MSG_MAX`). */
export const RETURN_PATH_MESSAGE_MAX = 8;

/** The longest message payload a QEMU source accepts. */
export const RETURN_PATH_MAX_PAYLOAD = 512;

/**
 * savevm's extension: a destination that failed sends its error text (UTF-8, at most
 * {@link RETURN_PATH_MAX_PAYLOAD} bytes) in a message of this type right before SHUT — but
 * only to a source that announced it understands it by a PING of
 * {@link SAVEVM_WORDS_PING_VALUE}. A QEMU source never sends that PING, so it never gets
 * a message it would reject.
 */
export const SAVEVM_RP_MSG_FAILURE_TEXT = 0x7376;

/** The PING value (`svm1`) by which a savevm source asks for {@link SAVEVM_RP_MSG_FAILURE_TEXT}. */
export const SAVEVM_WORDS_PING_VALUE = 0x73766d31;

/** The PING value QEMU sends right after OPEN_RETURN_PATH. */
export const FIRST_PING_VALUE = 1;

/** Payload length each fixed-size message must have (QEMU's `rp_cmd_args`); absent: variable. */
const FIXED_LENGTH: ReadonlyMap<number, number> = new Map([
  [ReturnPathMessage.SHUT, 4],
  [ReturnPathMessage.PONG, 4],
  [ReturnPathMessage.REQ_PAGES, 12],
  [ReturnPathMessage.RESUME_ACK, 4],
  [ReturnPathMessage.SWITCHOVER_ACK, 0],
]);

const NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(ReturnPathMessage).map(([name, value]) => [value, name] as const),
);

/** QEMU's name of a message type (`SHUT`, `PONG`, …), or its hex value. */
export function returnPathMessageName(type: number): string {
  if (type === SAVEVM_RP_MSG_FAILURE_TEXT) return 'SAVEVM_FAILURE_TEXT';
  return NAMES.get(type) ?? `0x${type.toString(16).padStart(4, '0')}`;
}

/**
 * Checks a message header as a QEMU source does before reading the payload.
 * @param acceptSavevmText whether this source asked for {@link SAVEVM_RP_MSG_FAILURE_TEXT}
 * @returns why the header is refused, or undefined when it is acceptable
 */
export function checkReturnPathHeader(type: number, length: number, acceptSavevmText = false): string | undefined {
  if (acceptSavevmText && type === SAVEVM_RP_MSG_FAILURE_TEXT) {
    return length <= RETURN_PATH_MAX_PAYLOAD ? undefined : `${returnPathMessageName(type)} message of ${length} bytes exceeds ${RETURN_PATH_MAX_PAYLOAD}`;
  }
  if (type === ReturnPathMessage.INVALID || type >= RETURN_PATH_MESSAGE_MAX) {
    return `invalid return-path message 0x${type.toString(16).padStart(4, '0')} with length ${length}`;
  }
  const fixed = FIXED_LENGTH.get(type);
  if ((fixed !== undefined && length !== fixed) || length > RETURN_PATH_MAX_PAYLOAD) {
    return `return-path message ${returnPathMessageName(type)} with length ${length}, expecting ${fixed ?? `at most ${RETURN_PATH_MAX_PAYLOAD}`}`;
  }
  return undefined;
}

/** One encoded message: be16 type, be16 length, payload. */
export function encodeReturnPathMessage(type: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  if (payload.length > 0xffff) throw new RangeError(`return-path payload of ${payload.length} bytes exceeds 65535`);
  const m = Buffer.alloc(4 + payload.length);
  m.writeUInt16BE(type, 0);
  m.writeUInt16BE(payload.length, 2);
  m.set(payload, 4);
  return m;
}

/** A be32 payload (SHUT, PONG). */
export function be32Payload(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

/** The error text for {@link SAVEVM_RP_MSG_FAILURE_TEXT}, cut to whole characters that fit. */
export function failureTextPayload(text: string): Buffer {
  let kept = '';
  let bytes = 0;
  for (const ch of text) {
    const k = Buffer.byteLength(ch, 'utf8');
    if (bytes + k > RETURN_PATH_MAX_PAYLOAD) break;
    kept += ch;
    bytes += k;
  }
  return Buffer.from(kept, 'utf8');
}
