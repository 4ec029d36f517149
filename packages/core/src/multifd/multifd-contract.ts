/**
 * What multifd channels offer the handlers of one migration (docs/design/multifd.md): on the
 * source, RAM pages and device state travel on N extra connections beside the main stream;
 * on the destination, they arrive there in any order, and SYNC barriers keep RAM pages in
 * order across channels. A handler sees these only when the migration has channels.
 */
/** How RAM pass boundaries are marked (docs/design/multifd.md §5). */
export type MultifdSyncMode =
  /** QEMU 10.0: SYNC on every channel + MULTIFD_FLUSH on the main stream, once per pass over RAM (and at setup and completion). */
  | 'flush-record'
  /** QEMU 7.2 (and 10.0 machine types ≤ 8.0): SYNC on every channel before every end of a `ram` section; no flush record. */
  | 'per-section';

/** How one migration uses its channels; both sides must agree. */
export interface MultifdSettings {
  /** Extra connections, 1 … 255. */
  readonly channels: number;
  /** Zero pages travel as offsets in RAM packets (QEMU 10.0) instead of ZERO records on the main stream (QEMU 7.2). */
  readonly zeroPagesInPackets: boolean;
  /** Where pass boundaries are marked. */
  readonly syncMode: MultifdSyncMode;
  /**
   * Device state travels on the channels at switchover (QEMU 10.0's multifd device-state
   * transfer): entries with `saveCompletePrecopyThread` send their stop-copy state there.
   * Needs the SWITCHOVER_START command, so never with QEMU 7.2's stream.
   */
  readonly deviceState: boolean;
}

/** The source's channels as the RAM handler uses them. */
export interface MultifdRamSender {
  /** How this migration uses its channels. */
  readonly settings: MultifdSettings;
  /**
   * Queues one RAM packet on the channel with the least queued: up to 128 pages of one block,
   * the normal ones with their 4096 bytes each (copied: `pageData` is the caller's again when
   * this returns), the zero ones as offsets only (only with `zeroPagesInPackets`).
   */
  sendPages(block: string, normalOffsets: readonly number[], pageData: readonly Uint8Array[], zeroOffsets: readonly number[]): void;
  /** Queues a SYNC barrier on every channel (QEMU `multifd_send_sync_main`). */
  sync(): void;
  /** True when every channel's queue is at its cap: stop sending and wait for {@link waitForRoom}. */
  isFull(): boolean;
  /** Resolves when some channel has room again (or fails with the channels' error). */
  waitForRoom(): Promise<void>;
}

/** One entry's way to send its device state on the channels (QEMU `multifd_queue_device_state`). */
export interface DeviceStateSender {
  /**
   * Sends one device-state packet carrying `data` (1 byte … 4 GiB − 1) on whichever channel
   * is free next; buffers of one entry may therefore arrive in any order. The data is
   * copied; resolves when the channels can take more.
   */
  send(data: Uint8Array): Promise<void>;
}

/** What `saveSetup` is told besides the stream. */
export interface SaveSetupContext {
  /** The channels, when the migration has them. */
  readonly multifd: MultifdRamSender | undefined;
}

/** Where RAM pages arriving on the destination's channels are written. */
export interface MultifdRamTarget {
  /** The memory of the block the stream names `name` (exactly its used length), or undefined when there is none. */
  blockBytes(name: string): Uint8Array | undefined;
  /** Told how many pages one packet brought, for statistics. */
  pagesLoaded?(normalPages: number, zeroPages: number): void;
}

/** The destination's channels as the RAM handler uses them. */
export interface MultifdRamReceiver {
  /** How many channels, and whether device state may arrive on them. */
  readonly settings: Pick<MultifdSettings, 'channels' | 'deviceState'>;
  /** Names the memory RAM packets are written into (a RAM packet before this is refused). */
  setRamTarget(target: MultifdRamTarget): void;
  /**
   * Waits until every channel has read its next SYNC, then lets them all go on (QEMU
   * `multifd_recv_sync_main`): every page sent before the barrier is then in memory.
   * Rejects when a channel fails or closes first.
   */
  syncMain(): Promise<void>;
}

/** What `switchoverStart` may do on the destination. */
export interface SwitchoverStartContext {
  /**
   * Starts background work the load waits for after EOF (QEMU
   * `qemu_loadvm_start_load_thread`): typically writing multifd device-state buffers into the
   * device in order, then its config. A rejection fails the load. The signal aborts when the
   * load fails, and when every channel has closed (no more buffers can come).
   */
  startLoadThread(work: (signal: AbortSignal) => Promise<void>): void;
}

/** What `loadStateBuffer` is given beside the payload on the destination. */
export interface LoadStateBufferContext {
  /**
   * Gives the payload's memory back to the channels, which read a later packet into it
   * (no fresh memory, so no page faults, per packet). Call it once the payload is no longer
   * used (written into the device); never touch the payload afterwards. Not calling it is
   * allowed: the memory is then left to the garbage collector. Later calls do nothing.
   */
  release(): void;
}
