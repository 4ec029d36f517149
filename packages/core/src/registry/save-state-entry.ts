import type { SaveStateEntryInfo, SaveVMHandlers } from '../handlers.js';

/**
 * One registered participant of a migration (QEMU's SaveStateEntry): identity, version
 * rules, ordering priority and the handlers.
 */
export class SaveStateEntry implements SaveStateEntryInfo {
  /** The idstr as UTF-8 bytes (cached for the wire). */
  readonly idstrBytes: Buffer;
  /** Whether the entry is live (has `saveSetup`; QEMU's `is_ram`). */
  readonly isLive: boolean;

  /**
   * @param idstr section identifier sent on the wire
   * @param instanceId resolved instance id
   * @param versionId newest version written and accepted
   * @param minimumVersionId oldest version accepted on load
   * @param sectionId section id this entry writes
   * @param priority ordering priority (higher first)
   * @param handlers the hooks
   * @param order registration sequence number (FIFO inside a priority)
   */
  constructor(
    readonly idstr: string,
    readonly instanceId: number,
    readonly versionId: number,
    readonly minimumVersionId: number,
    readonly sectionId: number,
    readonly priority: number,
    readonly handlers: SaveVMHandlers,
    readonly order: number,
  ) {
    this.idstrBytes = Buffer.from(idstr, 'utf8');
    this.isLive = typeof handlers.saveSetup === 'function';
  }

  /** QEMU's `is_active` check (true when the hook is absent). */
  isActive(): boolean {
    const h = this.handlers;
    return h.isActive === undefined || h.isActive();
  }

  /** `idstr/instance`, for messages. */
  toString(): string {
    return `${this.idstr}/${this.instanceId}`;
  }
}
