/**
 * The part of QEMU's return path (destination → source messages on the connection the
 * stream arrives on; each is `be16 type, be16 length, payload`) this project uses:
 * - MIG_RP_MSG_SWITCHOVER_ACK (7, no payload): the destination loaded every device's
 *   initial data, so the source may switch over;
 * - MIG_RP_MSG_SHUT (1, be32 status, 0 = ok): the destination finished loading, and how.
 *   With it the source learns that a destination refused what it loaded (a VFIO device's
 *   validation, say) instead of believing the migration done.
 */
import type { ReadChannel, WriteChannel } from '@savevm/stream';
import type { SwitchoverAckGate } from '@savevm/core';

/** QEMU's `MIG_RP_MSG_SHUT`: the destination is done; payload be32 status (0 = ok, 1 = failed). */
export const MIG_RP_MSG_SHUT = 1;
/** QEMU's `MIG_RP_MSG_SWITCHOVER_ACK`. */
export const MIG_RP_MSG_SWITCHOVER_ACK = 7;

/** How the destination said its load ended, or `undefined` when it said nothing before the connection ended. */
export type DestinationVerdict = 'loaded' | 'failed' | undefined;

function message(type: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const m = Buffer.alloc(4 + payload.length);
  m.writeUInt16BE(type, 0);
  m.writeUInt16BE(payload.length, 2);
  m.set(payload, 4);
  return m;
}

/** Sends the switchover ACK on the return path (destination). */
export function sendSwitchoverAck(returnPath: WriteChannel): Promise<void> {
  return Promise.resolve(returnPath.writev([message(MIG_RP_MSG_SWITCHOVER_ACK)]));
}

/** Sends SHUT with the load's outcome on the return path (destination, after the load). */
export function sendShut(returnPath: WriteChannel, failed: boolean): Promise<void> {
  const status = Buffer.alloc(4);
  status.writeUInt32BE(failed ? 1 : 0, 0);
  return Promise.resolve(returnPath.writev([message(MIG_RP_MSG_SHUT, status)]));
}

/**
 * The source's side of the return path: reads messages until the connection ends,
 * opening the switchover-ack gate on the ACK and keeping the destination's verdict from
 * SHUT. Other message types are skipped by their length.
 */
export class ReturnPathListener implements SwitchoverAckGate {
  private acknowledged = false;
  private verdict: DestinationVerdict;
  private readonly ended: Promise<void>;
  private wake: (() => void) | undefined;

  /** @param returnPath the read side of the connection the stream goes out on */
  constructor(private readonly returnPath: ReadChannel) {
    this.ended = this.listen();
  }

  /** Whether the destination acknowledged switchover (QEMU `switchover_acked`). */
  isAcknowledged(): boolean {
    return this.acknowledged;
  }

  /**
   * The destination's verdict: resolves when SHUT arrives, or with `undefined` when the
   * connection ends first or `timeoutMs` passes.
   */
  async destinationVerdict(timeoutMs: number): Promise<DestinationVerdict> {
    if (this.verdict !== undefined) return this.verdict;
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([arrived, this.ended, timedOut]);
    clearTimeout(timer);
    return this.verdict;
  }

  private async readFully(into: Uint8Array): Promise<boolean> {
    let got = 0;
    while (got < into.length) {
      const n = await this.returnPath.read(into.subarray(got));
      if (n === 0) return false;
      got += n;
    }
    return true;
  }

  private async listen(): Promise<void> {
    const header = new Uint8Array(4);
    try {
      while (await this.readFully(header)) {
        const type = (header[0] ?? 0) * 256 + (header[1] ?? 0);
        const length = (header[2] ?? 0) * 256 + (header[3] ?? 0);
        const payload = new Uint8Array(length); // at most 65535 bytes: the length is a be16
        if (length > 0 && !(await this.readFully(payload))) return;
        if (type === MIG_RP_MSG_SWITCHOVER_ACK) this.acknowledged = true;
        if (type === MIG_RP_MSG_SHUT && length >= 4) {
          this.verdict = new DataView(payload.buffer).getUint32(0) === 0 ? 'loaded' : 'failed';
          this.wake?.();
        }
      }
    } catch {
      // the connection ended; the migration itself reports why
    }
  }
}
