/**
 * The failure of one multifd channel: it names the channel, then says what happened
 * (docs/design/multifd.md §6).
 */
import { MigrationError, type MigrationErrorInit } from '../errors.js';

/** A multifd channel closed, stalled, failed to write, or brought a packet QEMU would refuse. */
export class MultifdChannelError extends MigrationError {
  /** The channel's number (0 … channels − 1). */
  readonly channel: number;

  /** @param channel the channel's number; @param init the rest of the error, whose detail follows "multifd channel N: " */
  constructor(channel: number, init: MigrationErrorInit) {
    super({ ...init, detail: `multifd channel ${channel}: ${init.detail}` });
    this.channel = channel;
  }
}
