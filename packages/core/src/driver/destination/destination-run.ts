/**
 * One migration's destination side, top-down in the order QEMU's `qemu_loadvm_state` works
 * (docs/design/handler-lifecycle.md §5): header and configuration → `loadSetup` of all active
 * entries → sections until EOF (START/FULL by idstr + instance, PART/END by section id,
 * footers checked) → vmdesc read and ignored → `loadCleanup` of all → start or stay paused.
 */
import type { BehaviorSubject } from 'rxjs';
import {
  type CommandRule,
  MAX_VMDESC_BYTES,
  MigCommand,
  type QemuFileReader,
  type RecordHeader,
  type RecordReader,
  StreamError,
  StreamIoError,
  StreamParser,
  idstrOf,
} from '@savevm/stream';
import { MigrationError, type MigrationPhase, type SectionRef, detailOf, messageOf } from '../../errors.js';
import { reasonOf } from '../../failure-reason.js';
import type { DestinationReturnPath } from '../../return-path.js';
import type { LoadOutcome, LoadSetupContext } from '../../handlers.js';
import { LoadThreadPool } from '../../multifd/load-thread-pool.js';
import type { MultifdReceiveChannels } from '../../multifd/multifd-receive-channels.js';
import type { SwitchoverStartContext } from '../../multifd/multifd-contract.js';
import type { SaveStateRegistry } from '../../registry/registry.js';
import type { SaveStateEntry } from '../../registry/save-state-entry.js';
import type { RunStateController } from '../../run-state/run-state-controller.js';
import { RunState } from '../../run-state/run-state.js';
import type { MigrationInfo } from '../../status/migration-info.js';
import { MigrationStatus } from '../../status/migration-status.js';
import { isTracing, trace } from '../../tracing/trace-points.js';
import type { MigrationClock } from '../clock.js';
import { type HookFailurePlace, callHook, cleanUpEvery, streamErrno } from '../hooks.js';
import { isPromiseLike } from '../../maybe-promise.js';
import { StatusPublisher } from '../status-publisher.js';
import { SectionIndex } from './section-index.js';

/** Whether two short byte strings are equal (cheaper than Buffer.equals for idstrs). */
function sameBytes(a: Uint8Array, b: Uint8Array, start: number, end: number): boolean {
  const n = a.length;
  if (n !== end - start) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[start + i]) return false;
  return true;
}

/** Options of a load: what the destination checks, answers and does after it. */
export interface DestinationOptions {
  /**
   * The local machine type. The stream's configuration must name it or a prefix of it
   * (QEMU compares only the received length). Undefined: any machine is accepted.
   */
  readonly machine?: string | undefined;
  /** Require the configuration section (QEMU `send-configuration`, default true). */
  readonly requireConfiguration?: boolean;
  /** Start the VM after a successful load (default false: leave it paused). */
  readonly autostart?: boolean;
  /** Commands accepted, with their length rules (default: the `StreamParser`'s, the newest QEMU's). */
  readonly commands?: ReadonlyMap<number, CommandRule>;
  /**
   * QEMU's return path back to the source, when the transport has one. The stream opens it
   * (OPEN_RETURN_PATH), PINGs are answered with PONGs, the switchover ACK goes through it,
   * and at the end SHUT tells the source how the load ended (after `verifyLoaded`).
   */
  readonly returnPath?: DestinationReturnPath | undefined;
  /**
   * Capability `switchover-ack`: send MIG_RP_MSG_SWITCHOVER_ACK on the return path once
   * every entry whose `switchoverAckNeeded()` was true has approved (at once when none needs to).
   */
  readonly switchoverAck?: boolean;
  /**
   * The embedder's check of what was loaded, after every `loadCleanup` succeeded and before
   * the VM starts and SHUT is sent: a throw fails the load (phase `load-verify`), and the
   * source hears that the destination failed.
   */
  readonly verifyLoaded?: () => void | Promise<void>;
  /**
   * The migration's multifd channels, accepted and with their initial packets checked
   * (docs/design/multifd.md). The load starts their read loops after `loadSetup`, waits for
   * the work `switchoverStart` hooks started after EOF, and stops them before `loadCleanup`.
   * The caller owns the channels and closes them afterwards.
   */
  readonly multifd?: MultifdReceiveChannels | undefined;
  /**
   * The end of the transport after a good load — the VM started (or stays paused) and SHUT
   * was sent — and before COMPLETED: e.g. waiting for an `exec:` source command's exit. The
   * stream was whole and its state loaded, so a rejection is a warning (its message) in
   * `MigrationInfo.warnings`, not a failure (`docs/design/return-path.md`).
   */
  readonly finishStream?: (() => Promise<void>) | undefined;
}

/** What a run needs from the outside. */
export interface DestinationRunContext {
  /** The local entries. */
  readonly registry: SaveStateRegistry;
  /** The VM's run state. */
  readonly runState: RunStateController;
  /** The time source. */
  readonly clock: MigrationClock;
  /** Where infos are pushed. */
  readonly infos: BehaviorSubject<MigrationInfo>;
}

/** The state of one migration's destination side. */
export class DestinationRun {
  private readonly entries: readonly SaveStateEntry[];
  /** Entry → list position, built at the first section that arrives out of list order. */
  private indexOf: Map<SaveStateEntry, number> | undefined;
  private readonly publisher: StatusPublisher;
  /** The one parser of this run: it reads the header and configuration, its record reader the rest. */
  private readonly parser: StreamParser;
  private readonly records: RecordReader;
  /** Section id (from START/FULL) → list position (QEMU `load_section_id`). */
  private readonly sectionIndex = new SectionIndex();
  /** Version found in the stream, by list position (QEMU `load_version_id`). */
  private readonly loadVersion: Uint32Array;
  private nextGuess = 0;
  /** The section being loaded, for error messages (mutable fields: no allocation per section). */
  private readonly current = { active: false, type: 'full' as SectionRef['type'], sectionId: 0, offset: 0, entry: undefined as SaveStateEntry | undefined };
  private acksPending = 0;
  private acked = false;
  private ackDue = false;
  private phase: MigrationPhase = 'load-header';
  /** Work started by `switchoverStart` hooks, waited for after EOF. */
  private readonly loadThreads = new LoadThreadPool();
  private readonly switchoverContext: SwitchoverStartContext = { startLoadThread: (work) => this.loadThreads.start(work) };

  /** @param f the stream from the source; @param ctx the collaborators; @param options the options */
  constructor(
    private readonly f: QemuFileReader,
    private readonly ctx: DestinationRunContext,
    private readonly options: DestinationOptions,
  ) {
    this.entries = ctx.registry.list();
    const multifd = options.multifd;
    this.publisher = new StatusPublisher({
      side: 'destination',
      entries: this.entries,
      clock: ctx.clock,
      infos: ctx.infos,
      multifdBytes: multifd && (() => multifd.stats().map((s) => s.bytes)),
    });
    const commands = options.commands;
    this.parser = new StreamParser(f, { requireConfiguration: options.requireConfiguration ?? true, ...(commands !== undefined && { commands }) });
    this.records = this.parser.recordReader;
    this.loadVersion = new Uint32Array(this.entries.length);
  }

  /** Loads the whole stream; resolves with the final info or rejects with a MigrationError. */
  async run(): Promise<MigrationInfo> {
    this.publisher.setStatus(MigrationStatus.SETUP);
    this.ctx.runState.setState(RunState.INMIGRATE);
    let failure: MigrationError | undefined;
    try {
      await this.readHeaderAndConfiguration();
      await this.loadSetup();
      this.publisher.markSetupDone();
      this.publisher.setStatus(MigrationStatus.ACTIVE);
      await this.loadRecords();
      trace('qemu_loadvm_state_post_main', { ok: true });
    } catch (err) {
      trace('qemu_loadvm_state_post_main', { ok: false });
      failure = this.options.multifd?.error ?? this.toMigrationError(err);
    }
    failure = await this.endMultifd(failure);
    // A cleanup that fails after a good load fails the migration: that is where a device
    // validates what it loaded (VFIO: RESUMING→STOP), and a device that refused its state
    // must not be started as if it had it.
    for (const cleanupFailure of await this.loadCleanup(failure ? { succeeded: false, error: failure } : { succeeded: true })) {
      if (failure) failure.suppressed.push(cleanupFailure);
      else failure = cleanupFailure;
    }
    if (!failure) failure = await this.verify();
    this.publisher.setTransferred(this.f.offset + (this.options.multifd?.stats().reduce((n, s) => n + s.bytes, 0) ?? 0));
    if (!failure) failure = await this.startOrPauseChecked();
    await this.options.returnPath?.shut(failure);
    if (failure) {
      this.publisher.setError(failure);
      this.publisher.setStatus(MigrationStatus.FAILED);
      this.publisher.publishFinal();
      throw failure;
    }
    await this.finishStream();
    this.publisher.setStatus(MigrationStatus.COMPLETED);
    return this.publisher.publishFinal();
  }

  /** The embedder's end of the transport (see {@link DestinationOptions.finishStream}); its failure is a warning. */
  private async finishStream(): Promise<void> {
    const finish = this.options.finishStream;
    if (finish === undefined) return;
    try {
      await finish();
    } catch (err) {
      this.publisher.warn(messageOf(err));
    }
  }

  // ---- header, configuration, setup --------------------------------------------------------

  /** Header and configuration (the machine type a prefix of the local one). */
  private async readHeaderAndConfiguration(): Promise<void> {
    this.phase = 'load-header';
    const record = await this.parser.readHeaderAndConfiguration();
    if (record === undefined) return;
    const local = this.options.machine;
    if (local !== undefined && !local.startsWith(record.machine)) {
      throw new MigrationError({
        phase: 'load-header',
        reason: 'INVALID_ARGUMENT',
        detail: `Machine type received is '${record.machine}' and local is '${local}'`,
        offset: record.offset,
        errno: 'EINVAL',
      });
    }
  }

  /**
   * After the main stream: with no failure, waits for the work `switchoverStart` started
   * (QEMU `qemu_loadvm_thread_pool_wait`); in any case stops that work and the channels'
   * read loops before `loadCleanup`. Returns the failure, if any.
   */
  private async endMultifd(failure: MigrationError | undefined): Promise<MigrationError | undefined> {
    const multifd = this.options.multifd;
    if (failure === undefined && this.loadThreads.size > 0) {
      this.phase = 'multifd';
      try {
        await this.loadThreads.waitAll();
      } catch (err) {
        failure = multifd?.error ?? (err instanceof MigrationError ? err : new MigrationError({ phase: 'multifd', reason: reasonOf(err, 'DEVICE_FAILED'), detail: messageOf(err), cause: err }));
      }
    }
    if (failure !== undefined) {
      this.loadThreads.abort(failure);
      await this.loadThreads.settled();
    }
    await multifd?.stop();
    return failure;
  }

  /** Starts the multifd channels' read loops; a channel's failure stops the main stream too. */
  private startMultifd(): void {
    const multifd = this.options.multifd;
    if (multifd === undefined) return;
    multifd.noMoreInput.addEventListener('abort', () => this.loadThreads.abort(multifd.noMoreInput.reason), { once: true });
    multifd.start(
      (idstr, instanceId) => this.ctx.registry.find(idstr, instanceId),
      () => this.f.shutdown(),
    );
  }

  /** `loadSetup` of every active entry (QEMU `qemu_loadvm_state_setup`), then the ACK count. */
  private async loadSetup(): Promise<void> {
    this.phase = 'load-setup';
    trace('loadvm_state_setup', { entries: this.entries.length });
    for (const e of this.entries) {
      const h = e.handlers;
      if (!e.isActive()) continue;
      const hook = h.loadSetup;
      if (hook !== undefined) {
        const context: LoadSetupContext = { entry: e, approveSwitchover: () => this.approveSwitchover(e), multifd: this.options.multifd };
        const r = callHook('load-setup', 'loadSetup', e, () => hook.call(h, this.f, context), () => ({ offset: this.f.offset }));
        if (isPromiseLike(r)) await r;
      }
      if (h.switchoverAckNeeded?.() === true) this.acksPending++;
    }
    if (this.acksPending === 0) this.sendAck();
    this.startMultifd();
  }

  /** QEMU `qemu_loadvm_approve_switchover`. */
  private approveSwitchover(e: SaveStateEntry): void {
    if (this.acksPending === 0) {
      throw new MigrationError({
        phase: 'load-state',
        reason: 'DEVICE_FAILED',
        detail: 'switchover approved with no approval outstanding',
        entry: { idstr: e.idstr, instanceId: e.instanceId },
        errno: 'EINVAL',
      });
    }
    if (--this.acksPending === 0) this.sendAck();
  }

  /** Sends the switchover ACK once (QEMU `qemu_loadvm_approve_switchover`), as soon as the return path is open. */
  private sendAck(): void {
    this.ackDue = true;
    const rp = this.options.returnPath;
    if (this.acked || this.options.switchoverAck !== true || rp === undefined || !rp.isOpen) return;
    this.acked = true;
    rp.switchoverAck();
  }

  /** The embedder's `verifyLoaded`; returns its failure. */
  private async verify(): Promise<MigrationError | undefined> {
    const check = this.options.verifyLoaded;
    if (check === undefined) return undefined;
    this.phase = 'load-verify';
    try {
      await check();
      return undefined;
    } catch (err) {
      return err instanceof MigrationError
        ? err
        : new MigrationError({ phase: 'load-verify', reason: 'DEVICE_FAILED', detail: `the loaded state was refused: ${messageOf(err)}`, cause: err });
    }
  }

  // ---- the main loop -----------------------------------------------------------------------

  /** Dispatches every record until EOF, then reads (and ignores) the vmdesc. */
  private async loadRecords(): Promise<void> {
    const records = this.records;
    const record = records.record;
    for (;;) {
      this.phase = 'load-dispatch';
      const reading = records.read();
      if (reading) await reading;
      let loading: void | Promise<void>;
      switch (record.type) {
        case 'start':
        case 'full':
          loading = this.loadStartOrFull();
          break;
        case 'part':
        case 'end':
          loading = this.loadPartOrEnd();
          break;
        case 'command':
          loading = this.handleCommand(record.command, record.commandName, record.offset, record.commandPayload);
          break;
        case 'eof':
          await this.afterEof();
          return;
      }
      if (loading) await loading;
    }
  }

  /**
   * After EOF: the vmdesc, read and ignored. A missing one, or a transport that fails while
   * it is read (an `exec:` source command that exited non-zero after EOF), is only a
   * warning: the state is whole, and QEMU's `qemu_loadvm_state` ignores it too.
   */
  private async afterEof(): Promise<void> {
    this.current.active = false;
    let after: Awaited<ReturnType<RecordReader['readAfterEof']>>;
    try {
      after = await this.records.readAfterEof(false, MAX_VMDESC_BYTES);
    } catch (err) {
      if (!(err instanceof StreamIoError)) throw err;
      this.publisher.warn(`no vmdescription section after EOF: ${err.message}`);
      return;
    }
    if (after.kind === 'missing') this.publisher.warn(after.warning);
  }

  /** START/FULL: find the entry by idstr + instance, check the version, load. */
  private loadStartOrFull(): void | Promise<void> {
    const r = this.records.record;
    this.setCurrent(undefined);
    const index = this.matchEntry(r, r.instanceId);
    const entry = index === undefined ? undefined : (this.entries[index] as SaveStateEntry);
    if (isTracing('qemu_loadvm_state_section_startfull')) {
      const { sectionId, instanceId, versionId } = r;
      trace('qemu_loadvm_state_section_startfull', { sectionId, idstr: idstrOf(r), instanceId, versionId });
    }
    if (entry === undefined || index === undefined || entry.versionId < r.versionId || r.versionId < entry.minimumVersionId) {
      this.refuseSection(entry);
    }
    this.sectionIndex.set(r.sectionId, index);
    this.loadVersion[index] = r.versionId;
    this.current.entry = entry;
    return this.callLoadState(entry, index, r.versionId);
  }

  /**
   * The list position of the entry named by (the record's idstr bytes, instance). Sections usually
   * arrive in the order of the local list, so the entry after the last match is tried
   * first, comparing bytes; otherwise the idstr is decoded and looked up.
   */
  private matchEntry(h: RecordHeader, instanceId: number): number | undefined {
    const guess = this.entries[this.nextGuess];
    if (guess !== undefined && guess.instanceId === instanceId && sameBytes(guess.idstrBytes, h.idstrBytes, h.idstrStart, h.idstrEnd)) {
      return this.nextGuess++;
    }
    const entry = this.ctx.registry.find(idstrOf(h), instanceId);
    if (entry === undefined) return undefined;
    this.indexOf ??= new Map(this.entries.map((e, i) => [e, i]));
    const index = this.indexOf.get(entry);
    if (index !== undefined) this.nextGuess = index + 1;
    return index;
  }

  /** Throws the error for a START/FULL whose entry is unknown or whose version is refused. */
  private refuseSection(entry: SaveStateEntry | undefined): never {
    const r = this.records.record;
    const idstr = idstrOf(r);
    const { instanceId, versionId } = r;
    const section = this.currentRef();
    const ref = { idstr, instanceId };
    if (entry === undefined) {
      throw new MigrationError({
        phase: 'load-dispatch',
        reason: 'UNKNOWN_SECTION',
        detail: `Unknown savevm section or instance '${idstr}' ${instanceId}. Make sure that your current VM setup matches your saved VM setup`,
        entry: ref,
        section,
        offset: r.offset,
        errno: 'EINVAL',
      });
    }
    if (versionId > entry.versionId) {
      throw new MigrationError({
        phase: 'load-dispatch',
        reason: 'VERSION_TOO_NEW',
        detail: `unsupported version ${versionId} for '${idstr}' v${entry.versionId} (the stream's version ${versionId} is newer than the local version ${entry.versionId})`,
        entry: ref,
        section,
        offset: r.offset,
        errno: 'EINVAL',
      });
    }
    throw new MigrationError({
      phase: 'load-dispatch',
      reason: 'BAD_STREAM',
      detail: `version ${versionId} of '${idstr}' is older than the local minimum version ${entry.minimumVersionId} (local version ${entry.versionId})`,
      entry: ref,
      section,
      offset: r.offset,
      errno: 'EINVAL',
    });
  }

  /** PART/END: find the entry by the section id learned from its START. */
  private loadPartOrEnd(): void | Promise<void> {
    const r = this.records.record;
    if (isTracing('qemu_loadvm_state_section_partend')) trace('qemu_loadvm_state_section_partend', { sectionId: r.sectionId });
    const index = this.sectionIndex.get(r.sectionId);
    const entry = index === undefined ? undefined : this.entries[index];
    this.setCurrent(entry);
    if (entry === undefined || index === undefined) {
      throw new MigrationError({
        phase: 'load-dispatch',
        reason: 'BAD_STREAM',
        detail: `unknown savevm section ${r.sectionId}`,
        section: this.currentRef(),
        offset: r.offset,
        errno: 'EINVAL',
      });
    }
    return this.callLoadState(entry, index, this.loadVersion[index] as number);
  }

  /** Calls `loadState`; synchronous when the hook is. The footer is checked on the next read. */
  private callLoadState(entry: SaveStateEntry, index: number, versionId: number): void | Promise<void> {
    this.phase = 'load-state';
    const bodyOffset = this.records.record.bodyOffset;
    const hook = entry.handlers.loadState;
    if (hook !== undefined) {
      const r = callHook('load-state', 'loadState', entry, () => hook.call(entry.handlers, this.f, versionId, entry), this.sectionPlace);
      if (isPromiseLike(r)) return r.then(() => this.sectionLoaded(entry, index, bodyOffset));
    }
    this.sectionLoaded(entry, index, bodyOffset);
  }

  private sectionLoaded(entry: SaveStateEntry, index: number, bodyOffset: number): void {
    this.publisher.addEntryBytes(index, this.f.offset - bodyOffset);
    this.records.expectFooter(this.records.record.sectionId, entry.idstr);
  }

  /** Where a `loadState` failed: the section being loaded and the reader's offset. */
  private readonly sectionPlace = (): HookFailurePlace => {
    const section = this.currentRef();
    return section ? { section, offset: this.f.offset } : { offset: this.f.offset };
  };

  private setCurrent(entry: SaveStateEntry | undefined): void {
    const c = this.current;
    const r = this.records.record;
    c.active = true;
    c.type = r.type === 'start' || r.type === 'full' || r.type === 'part' || r.type === 'end' ? r.type : 'full';
    c.sectionId = r.sectionId;
    c.offset = r.offset;
    c.entry = entry;
  }

  private currentRef(): SectionRef | undefined {
    const c = this.current;
    return c.active ? { type: c.type, sectionId: c.sectionId, offset: c.offset } : undefined;
  }

  /** Commands: SWITCHOVER_START reaches the entries; return-path ones are ignored; postcopy is refused. */
  private async handleCommand(command: number, name: string, offset: number, payload: Uint8Array): Promise<void> {
    if (isTracing('loadvm_process_command')) trace('loadvm_process_command', { name, offset });
    this.current.active = false;
    switch (command) {
      case MigCommand.OPEN_RETURN_PATH:
        this.openReturnPath(offset);
        return;
      case MigCommand.PING:
        this.answerPing(offset, payload);
        return;
      case MigCommand.SWITCHOVER_START:
        for (const e of this.entries) {
          const hook = e.handlers.switchoverStart;
          if (hook === undefined || !e.isActive()) continue;
          const r = callHook('load-state', 'switchoverStart', e, () => hook.call(e.handlers, e, this.switchoverContext), () => ({ offset }));
          if (isPromiseLike(r)) await r;
        }
        return;
      default:
        throw new MigrationError({
          phase: 'load-dispatch',
          reason: 'BAD_STREAM',
          detail: `command ${name} is not supported by this destination (precopy only)`,
          offset,
          errno: 'ENOTSUP',
        });
    }
  }

  // ---- the return path -------------------------------------------------------------------

  /** MIG_CMD_OPEN_RETURN_PATH: fatal when this transport has no way back, as in QEMU. */
  private openReturnPath(offset: number): void {
    const rp = this.options.returnPath;
    if (rp?.isOpen) return; // QEMU logs "called when RP already open" and goes on
    if (rp === undefined || !rp.open()) {
      throw new MigrationError({
        phase: 'return-path',
        reason: 'BAD_STREAM',
        detail: 'the stream opens a return path (OPEN_RETURN_PATH) but this transport has no way back to the source',
        offset,
        errno: 'EINVAL',
      });
    }
    if (this.ackDue) this.sendAck();
  }

  /** MIG_CMD_PING: answered with a PONG; fatal without a return path, as in QEMU. */
  private answerPing(offset: number, payload: Uint8Array): void {
    const rp = this.options.returnPath;
    if (rp === undefined || !rp.isOpen) {
      throw new MigrationError({ phase: 'return-path', reason: 'BAD_STREAM', detail: 'PING received with no return path', offset, errno: 'EINVAL' });
    }
    rp.pong(new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0));
  }

  // ---- cleanup and the end -------------------------------------------------------------------

  /** `loadCleanup` of every entry, always (QEMU `qemu_loadvm_state_cleanup`). */
  private loadCleanup(outcome: LoadOutcome): Promise<MigrationError[]> {
    return cleanUpEvery(this.entries, {
      hook: 'loadCleanup',
      phase: 'load-cleanup',
      tracePoint: 'loadvm_state_cleanup',
      invoke: (e) => e.handlers.loadCleanup?.(e, outcome),
    });
  }

  /** Starts the VM (autostart) or leaves it paused; returns the failure to start it. */
  private async startOrPauseChecked(): Promise<MigrationError | undefined> {
    if (this.options.autostart !== true) {
      this.ctx.runState.setState(RunState.PAUSED);
      return undefined;
    }
    try {
      await this.ctx.runState.start();
      return undefined;
    } catch (err) {
      return new MigrationError({ phase: 'load-start-vm', reason: 'INTERNAL', detail: `starting the VM failed: ${messageOf(err)}`, cause: err });
    }
  }

  /**
   * Shapes any failure as a MigrationError naming the section, the idstr, the instance
   * and the byte offset.
   */
  private toMigrationError(err: unknown): MigrationError {
    if (err instanceof MigrationError) return err;
    const current = this.current.active ? this.current.entry : undefined;
    const entry = current && { idstr: current.idstr, instanceId: current.instanceId };
    const section = this.currentRef();
    if (err instanceof StreamError) {
      const footer = err.code === 'MISSING_FOOTER' || err.code === 'FOOTER_MISMATCH';
      return new MigrationError({
        phase: footer ? 'load-footer' : this.phase,
        reason: reasonOf(err, 'BAD_STREAM'),
        detail: err.detail,
        entry: footer ? entry : undefined,
        section: footer ? section : undefined,
        offset: err.offset,
        cause: err,
        errno: streamErrno(err),
      });
    }
    return new MigrationError({ phase: this.phase, reason: reasonOf(err, 'INTERNAL'), detail: detailOf(err), entry, section, offset: this.f.offset, cause: err });
  }
}
