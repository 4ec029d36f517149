/**
 * What the drivers need of QEMU's return path (destination → source messages on the
 * connection the stream travels on). The drivers decide *when* to speak; the transport
 * behind these interfaces (`@savevm/session`) moves the bytes. See
 * `docs/design/return-path.md`.
 */
import type { SwitchoverAckGate } from './parameters.js';

/** SHUT 0: every device loaded. */
export interface VerdictLoaded {
  /** `loaded`. */
  readonly kind: 'loaded';
}

/** SHUT nonzero: the destination failed. */
export interface VerdictFailed {
  /** `failed`. */
  readonly kind: 'failed';
  /** The SHUT value (QEMU sends 1). */
  readonly status: number;
  /** The destination's error text, when it sent one (savevm destinations do). */
  readonly words: string | undefined;
}

/** The return path ended (or broke) before a SHUT arrived. */
export interface VerdictClosed {
  /** `closed`. */
  readonly kind: 'closed';
  /** How it ended. */
  readonly detail: string;
}

/** The destination sent a message a QEMU source rejects. */
export interface VerdictInvalid {
  /** `invalid`. */
  readonly kind: 'invalid';
  /** Which message, and why it was refused. */
  readonly detail: string;
}

/** No SHUT within the wait. */
export interface VerdictTimeout {
  /** `timeout`. */
  readonly kind: 'timeout';
  /** How long the source waited, ms. */
  readonly waitedMs: number;
}

/** How the destination said its load ended, as the source learned it. */
export type DestinationVerdict = VerdictLoaded | VerdictFailed | VerdictClosed | VerdictInvalid | VerdictTimeout;

/** The source's end of the return path. */
export interface SourceReturnPath extends SwitchoverAckGate {
  /**
   * A verdict that is already final before completion — the path closed or sent an invalid
   * message, or the destination already said it failed — or undefined while all is well.
   * The driver checks it every round and fails early.
   */
  earlyVerdict(): DestinationVerdict | undefined;
  /**
   * Waits for the destination's SHUT after the last byte: resolves with its verdict, or
   * `timeout` after `timeoutMs`, or `closed` when the path ends first. Never rejects.
   */
  waitForVerdict(timeoutMs: number): Promise<DestinationVerdict>;
}

/** The destination's end of the return path. */
export interface DestinationReturnPath {
  /** Whether the source opened it (MIG_CMD_OPEN_RETURN_PATH arrived). */
  readonly isOpen: boolean;
  /**
   * Opens it (MIG_CMD_OPEN_RETURN_PATH).
   * @returns false when this transport has no way back (the load then fails, as QEMU's does)
   */
  open(): boolean;
  /** Answers a PING (MIG_CMD_PING) with a PONG of the same value. */
  pong(value: number): void;
  /** Sends the switchover ACK (MIG_RP_MSG_SWITCHOVER_ACK). */
  switchoverAck(): void;
  /**
   * Sends SHUT with the load's outcome — 0 when it loaded, 1 when it failed, with the error
   * text for a source that asked for it — and waits until the bytes left (bounded by the
   * transport). Never rejects: a source that is gone cannot be told.
   */
  shut(failure: Error | undefined): Promise<void>;
}

/** The default bound on the source's wait for the destination's SHUT. */
export const DEFAULT_VERDICT_TIMEOUT_MS = 30_000;

/** Words for a verdict other than `loaded`, for an error message. */
export function describeVerdict(verdict: DestinationVerdict): string {
  switch (verdict.kind) {
    case 'loaded':
      return 'the destination loaded the state';
    case 'failed':
      return verdict.words === undefined
        ? `the destination failed to load the state (SHUT ${verdict.status})`
        : `the destination failed to load the state: ${verdict.words}`;
    case 'closed':
      return `the destination did not say how its load ended: ${verdict.detail}`;
    case 'invalid':
      return `the return path is broken: ${verdict.detail}`;
    case 'timeout':
      return `the destination did not say how its load ended within ${verdict.waitedMs} ms`;
  }
}
