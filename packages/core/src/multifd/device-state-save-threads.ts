/**
 * The source's device-state work at switchover (QEMU's device-state save threads): one
 * `saveCompletePrecopyThread` per active entry that has it, started before the END sections
 * and joined after them (docs/design/multifd.md §4–§5).
 */
import { hookFailure } from '../driver/hooks.js';
import type { SaveStateEntry } from '../registry/save-state-entry.js';
import { MultifdChannelError } from './multifd-channel-error.js';
import type { MultifdSendChannels } from './multifd-send-channels.js';

/** The running `saveCompletePrecopyThread` hooks of one migration. */
export class DeviceStateSaveThreads {
  private readonly running: Promise<void>[] = [];
  private readonly controller = new AbortController();
  private firstFailure: { error: unknown } | undefined;

  /** Starts the hook of every active entry that has one. */
  static start(entries: readonly SaveStateEntry[], channels: MultifdSendChannels): DeviceStateSaveThreads {
    const threads = new DeviceStateSaveThreads();
    for (const e of entries) {
      const hook = e.handlers.saveCompletePrecopyThread;
      if (hook === undefined || !e.isActive()) continue;
      const sender = channels.deviceStateSender(e.idstr, e.instanceId);
      const signal = threads.controller.signal;
      const run = (async () => hook.call(e.handlers, sender, e, signal))().catch((err: unknown) => {
        // A channel's failure reaches the hook through `send`: it is the channel's, not the device's.
        const error = err instanceof MultifdChannelError ? err : hookFailure('complete-precopy', 'saveCompletePrecopyThread', e, err);
        if (threads.firstFailure === undefined) threads.firstFailure = { error };
        threads.abort(err);
      });
      threads.running.push(run);
    }
    return threads;
  }

  /** How many hooks run. */
  get size(): number {
    return this.running.length;
  }

  /** Tells every hook to stop (the migration failed or was cancelled). */
  abort(reason: unknown): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Waits until every hook has ended, however it ended. */
  async settled(): Promise<void> {
    await Promise.all(this.running);
  }

  /** Waits for every hook; rejects with the first failure, naming its entry. */
  async join(): Promise<void> {
    await Promise.all(this.running);
    if (this.firstFailure !== undefined) throw this.firstFailure.error;
  }
}
