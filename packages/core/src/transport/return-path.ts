/**
 * The smallest part of QEMU's return path this project needs: the destination's
 * MIG_RP_MSG_SWITCHOVER_ACK (`be16 type = 7, be16 length = 0`), sent back on the
 * connection the stream arrives on, and the source's gate that waits for it.
 */
import type { ReadChannel, WriteChannel } from '@savevm/stream';
import type { SwitchoverAckGate } from '../parameters.js';

/** QEMU's `MIG_RP_MSG_SWITCHOVER_ACK`. */
export const MIG_RP_MSG_SWITCHOVER_ACK = 7;

/** Sends the switchover ACK on the return path (destination). */
export function sendSwitchoverAck(returnPath: WriteChannel): Promise<void> {
  const message = Buffer.alloc(4);
  message.writeUInt16BE(MIG_RP_MSG_SWITCHOVER_ACK, 0);
  message.writeUInt16BE(0, 2);
  return Promise.resolve(returnPath.writev([message]));
}

/**
 * Listens on the return path (source) and opens the gate on the ACK. Other message types
 * are skipped by their length. Reading stops at the end of the connection.
 */
export function listenForSwitchoverAck(returnPath: ReadChannel): SwitchoverAckGate {
  let acknowledged = false;
  void (async () => {
    const header = new Uint8Array(4);
    const readFully = async (into: Uint8Array): Promise<boolean> => {
      let got = 0;
      while (got < into.length) {
        const n = await returnPath.read(into.subarray(got));
        if (n === 0) return false;
        got += n;
      }
      return true;
    };
    try {
      while (await readFully(header)) {
        const type = (header[0] ?? 0) * 256 + (header[1] ?? 0);
        const length = (header[2] ?? 0) * 256 + (header[3] ?? 0);
        if (length > 0 && !(await readFully(new Uint8Array(length)))) return;
        if (type === MIG_RP_MSG_SWITCHOVER_ACK) acknowledged = true;
      }
    } catch {
      // the connection ended; the migration itself reports why
    }
  })();
  return { isAcknowledged: () => acknowledged };
}
