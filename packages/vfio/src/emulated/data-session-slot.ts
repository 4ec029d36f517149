/**
 * The emulated device's one data session (what a data_fd, or the v1 data section, reads from
 * or writes to): starting a session ends the one before, and listeners hear every end.
 */
import type { ResumeSession } from './resume-session.js';
import type { SaveSession } from './save-session.js';

/** A data session of the emulated device (what a data_fd refers to). */
export type EmulatedSession = SaveSession | ResumeSession;

/** Holds the device's current data session. */
export class DataSessionSlot {
  #session: EmulatedSession | undefined;
  readonly #endListeners: Array<() => void> = [];

  /** The current session, if any. */
  get current(): EmulatedSession | undefined {
    return this.#session;
  }

  /** Ends the current session and makes `session` current. */
  start<S extends EmulatedSession>(session: S): S {
    this.end();
    this.#session = session;
    return session;
  }

  /** Ends the current session (if any) and tells the listeners. */
  end(): void {
    this.#session?.end();
    this.#session = undefined;
    for (const listener of this.#endListeners) listener();
  }

  /** Calls `listener` whenever {@link end} runs (a session ended or replaced, a reset). */
  onEnd(listener: () => void): void {
    this.#endListeners.push(listener);
  }
}
