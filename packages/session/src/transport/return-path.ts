/**
 * QEMU's return path on a connection: the destination's writer and the source's reader of
 * the messages of `docs/design/return-path.md` (SHUT, PONG, SWITCHOVER_ACK, and savevm's
 * error text for a savevm source).
 */
import type { DestinationReturnPath, DestinationVerdict, SourceReturnPath } from '@savevm/core';
import {
  ReturnPathMessage,
  SAVEVM_RP_MSG_FAILURE_TEXT,
  SAVEVM_WORDS_PING_VALUE,
  be32Payload,
  checkReturnPathHeader,
  encodeReturnPathMessage,
  failureTextPayload,
  returnPathMessageName,
  type ReadChannel,
  type WriteChannel,
} from '@savevm/stream';

/** Longest time the destination waits for its last return-path messages to leave. */
const SHUT_SEND_TIMEOUT_MS = 5_000;

/**
 * The destination's end: opened by the stream's OPEN_RETURN_PATH, it answers PINGs, sends
 * the switchover ACK and, at the end, SHUT. Messages leave in order; a failed write ends
 * the path quietly (the source then learns nothing, which it treats as a failure).
 */
export class ReturnPathWriter implements DestinationReturnPath {
  private opened = false;
  private wantsWords = false;
  private tail: Promise<void> = Promise.resolve();
  private broken = false;

  /** @param channel the write side of the connection the stream arrives on */
  constructor(private readonly channel: WriteChannel) {}

  /** Whether the source opened the path. */
  get isOpen(): boolean {
    return this.opened;
  }

  /** Opens the path (always possible on a connection). */
  open(): boolean {
    this.opened = true;
    return true;
  }

  /** Answers a PING; a PING of savevm's value asks for the error text before SHUT. */
  pong(value: number): void {
    if (value === SAVEVM_WORDS_PING_VALUE) this.wantsWords = true;
    this.send(ReturnPathMessage.PONG, be32Payload(value));
  }

  /** Sends MIG_RP_MSG_SWITCHOVER_ACK. */
  switchoverAck(): void {
    this.send(ReturnPathMessage.SWITCHOVER_ACK);
  }

  /** Sends SHUT 0 or 1 (with the error text first for a savevm source) and waits for the bytes to leave. */
  async shut(failure: Error | undefined): Promise<void> {
    if (!this.opened) return;
    if (failure !== undefined && this.wantsWords) this.send(SAVEVM_RP_MSG_FAILURE_TEXT, failureTextPayload(failure.message));
    this.send(ReturnPathMessage.SHUT, be32Payload(failure === undefined ? 0 : 1));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.tail, new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUT_SEND_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }

  private send(type: number, payload?: Uint8Array): void {
    const message = encodeReturnPathMessage(type, payload);
    this.tail = this.tail.then(async () => {
      if (this.broken) return;
      try {
        await this.channel.writev([message]);
      } catch {
        this.broken = true;
      }
    });
  }
}

/**
 * The source's end: reads messages until the connection ends, checking each header as a
 * QEMU source does. It opens the switchover-ack gate on the ACK and keeps the destination's
 * verdict from SHUT (with the error text a savevm destination sends before it).
 */
export class ReturnPathReader implements SourceReturnPath {
  private acknowledged = false;
  private verdict: DestinationVerdict | undefined;
  private words: string | undefined;
  private readonly waiters = new Set<() => void>();
  /** Every PONG value received, in order (for diagnostics and tests). */
  readonly pongs: number[] = [];
  private received = 0;

  /** @param channel the read side of the connection the stream goes out on */
  constructor(private readonly channel: ReadChannel) {
    void this.listen();
  }

  /** Bytes the destination sent back so far (0: it never answered, not even the first PING). */
  get bytesReceived(): number {
    return this.received;
  }

  /** Whether the destination acknowledged switchover (QEMU `switchover_acked`). */
  isAcknowledged(): boolean {
    return this.acknowledged;
  }

  /** The verdict once it is final and not a success (failed, closed, invalid). */
  earlyVerdict(): DestinationVerdict | undefined {
    return this.verdict?.kind === 'loaded' ? undefined : this.verdict;
  }

  /** Waits for SHUT (or the end of the path), at most `timeoutMs`. */
  async waitForVerdict(timeoutMs: number): Promise<DestinationVerdict> {
    if (this.verdict !== undefined) return this.verdict;
    let timer: NodeJS.Timeout | undefined;
    let wake: (() => void) | undefined;
    const arrived = new Promise<void>((resolve) => {
      wake = resolve;
      this.waiters.add(resolve);
    });
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([arrived, timedOut]);
    clearTimeout(timer);
    if (wake) this.waiters.delete(wake);
    return this.verdict ?? { kind: 'timeout', waitedMs: timeoutMs };
  }

  private settle(verdict: DestinationVerdict): void {
    if (this.verdict !== undefined) return;
    this.verdict = verdict;
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  private async readFully(into: Uint8Array): Promise<boolean> {
    let got = 0;
    while (got < into.length) {
      const r = this.channel.read(into.subarray(got));
      const n = typeof r === 'number' ? r : await r;
      if (n === 0) {
        if (got > 0) throw new Error(`the return path ended inside a message (${got} of ${into.length} bytes)`);
        return false;
      }
      got += n;
      this.received += n;
    }
    return true;
  }

  private async listen(): Promise<void> {
    const header = new Uint8Array(4);
    const view = new DataView(header.buffer);
    try {
      while (this.verdict === undefined && (await this.readFully(header))) {
        const type = view.getUint16(0);
        const length = view.getUint16(2);
        const refused = checkReturnPathHeader(type, length, true);
        if (refused !== undefined) return this.settle({ kind: 'invalid', detail: refused });
        const payload = new Uint8Array(length); // at most RETURN_PATH_MAX_PAYLOAD: checked above
        if (length > 0 && !(await this.readFully(payload))) {
          return this.settle({ kind: 'closed', detail: `the return path ended inside a ${returnPathMessageName(type)} message` });
        }
        this.handle(type, payload);
      }
      this.settle({ kind: 'closed', detail: 'the connection ended before the destination sent SHUT' });
    } catch (err) {
      this.settle({ kind: 'closed', detail: `the return path broke: ${err instanceof Error ? err.message : String(err)}` });
    }
  }

  private handle(type: number, payload: Uint8Array): void {
    const be32 = (): number => new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);
    switch (type) {
      case ReturnPathMessage.SHUT: {
        const status = be32();
        this.settle(status === 0 ? { kind: 'loaded' } : { kind: 'failed', status, words: this.words });
        return;
      }
      case ReturnPathMessage.PONG:
        this.pongs.push(be32());
        return;
      case ReturnPathMessage.SWITCHOVER_ACK:
        this.acknowledged = true;
        return;
      case SAVEVM_RP_MSG_FAILURE_TEXT:
        this.words = Buffer.from(payload).toString('utf8');
        return;
      default:
        // REQ_PAGES, REQ_PAGES_ID, RECV_BITMAP, RESUME_ACK: postcopy only, never asked for here.
        this.settle({ kind: 'invalid', detail: `${returnPathMessageName(type)} received, but this migration is precopy only` });
    }
  }
}
