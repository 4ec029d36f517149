/**
 * One incoming migration, top-down in the order QEMU's `qemu_loadvm_state` works
 * (spec handlers-and-vfio.md §A.9): header and configuration → `loadSetup` of all active
 * entries → sections until EOF (START/FULL by idstr + instance, PART/END by section id,
 * footers checked) → vmdesc read and ignored → `loadCleanup` of all → start or stay paused.
 */
import type { BehaviorSubject } from 'rxjs';
import {
  type CommandRule,
  MigCommand,
  NEWEST_COMMANDS,
  type QemuFileReader,
  type SectionRecord,
  StreamError,
  StreamParser,
  type StreamRecord,
} from '@savevm/stream';
import { MigrationError, type MigrationPhase, type SectionRef, messageOf } from '../../errors.js';
import type { LoadSetupContext } from '../../handlers.js';
import type { SaveStateRegistry } from '../../registry/registry.js';
import type { SaveStateEntry } from '../../registry/save-state-entry.js';
import type { RunStateController } from '../../run-state/run-state-controller.js';
import { RunState } from '../../run-state/run-state.js';
import type { MigrationInfo } from '../../status/migration-info.js';
import { MigrationStatus } from '../../status/migration-status.js';
import { isTracing, trace } from '../../tracing/trace-points.js';
import type { MigrationClock } from '../clock.js';
import { hookFailure, isPromiseLike } from '../hooks.js';
import { ProgressTracker } from '../progress.js';

/** Options of an incoming migration. */
export interface IncomingOptions {
  /**
   * The local machine type. The stream's configuration must name it or a prefix of it
   * (QEMU compares only the received length). Undefined: any machine is accepted.
   */
  readonly machine?: string | undefined;
  /** Require the configuration section (QEMU `send-configuration`, default true). */
  readonly requireConfiguration?: boolean;
  /** Start the VM after a successful load (default false: leave it paused). */
  readonly autostart?: boolean;
  /** Commands accepted, with their length rules (default: the newest QEMU's). */
  readonly commands?: ReadonlyMap<number, CommandRule>;
  /**
   * Switchover-ack: called once every entry whose `switchoverAckNeeded()` was true has
   * approved (at once when none needs to). Send the ACK on the return path from here.
   */
  readonly onSwitchoverAck?: () => void;
}

/** What a run needs from the outside. */
export interface IncomingRunContext {
  /** The local entries. */
  readonly registry: SaveStateRegistry;
  /** The VM's run state. */
  readonly runState: RunStateController;
  /** The time source. */
  readonly clock: MigrationClock;
  /** Where infos are pushed. */
  readonly infos: BehaviorSubject<MigrationInfo>;
}

/** A section id learned from START/FULL, with the entry and version it loads as. */
interface LoadSection {
  readonly entry: SaveStateEntry;
  readonly index: number;
  readonly versionId: number;
}

/** The state of one incoming migration. */
export class IncomingRun {
  private readonly entries: readonly SaveStateEntry[];
  private readonly indexOf = new Map<SaveStateEntry, number>();
  private readonly progress: ProgressTracker;
  private readonly parser: StreamParser;
  private readonly loadSections = new Map<number, LoadSection>();
  private currentSection: (SectionRef & { readonly entry: SaveStateEntry | undefined }) | undefined;
  private acksPending = 0;
  private acked = false;
  private phase: MigrationPhase = 'load-header';

  /** @param f the incoming stream; @param ctx the collaborators; @param options the options */
  constructor(
    private readonly f: QemuFileReader,
    private readonly ctx: IncomingRunContext,
    private readonly options: IncomingOptions,
  ) {
    this.entries = ctx.registry.list();
    this.entries.forEach((e, i) => this.indexOf.set(e, i));
    this.progress = new ProgressTracker('destination', this.entries, ctx.clock, ctx.infos);
    this.parser = new StreamParser(f, {
      requireConfiguration: options.requireConfiguration ?? true,
      commands: options.commands ?? NEWEST_COMMANDS,
    });
  }

  /** Loads the whole stream; resolves with the final info or rejects with a MigrationError. */
  async run(): Promise<MigrationInfo> {
    this.progress.setStatus(MigrationStatus.SETUP);
    this.ctx.runState.setState(RunState.INMIGRATE);
    let failure: MigrationError | undefined;
    try {
      const first = await this.readHeaderAndConfiguration();
      await this.loadSetup();
      this.progress.markSetupDone();
      this.progress.setStatus(MigrationStatus.ACTIVE);
      await this.loadSections_(first);
      trace('qemu_loadvm_state_post_main', { ok: true });
    } catch (err) {
      trace('qemu_loadvm_state_post_main', { ok: false });
      failure = this.toMigrationError(err);
    }
    for (const cleanupFailure of await this.loadCleanup()) {
      if (failure) failure.suppressed.push(cleanupFailure);
      else this.progress.warnings.push(cleanupFailure.message);
    }
    this.progress.setTransferred(this.f.offset);
    if (failure) {
      this.progress.errorDescription = failure.message;
      this.progress.setStatus(MigrationStatus.FAILED);
      this.finish();
      throw failure;
    }
    await this.startOrPause();
    this.progress.setStatus(MigrationStatus.COMPLETED);
    return this.finish();
  }

  // ---- header, configuration, setup --------------------------------------------------------

  /** Header and configuration; returns the first record after them when there was no configuration. */
  private async readHeaderAndConfiguration(): Promise<StreamRecord | null> {
    this.phase = 'load-header';
    await this.parser.next();
    const record = await this.parser.next();
    if (record?.type !== 'configuration') return record;
    const local = this.options.machine;
    if (local !== undefined && !local.startsWith(record.machine)) {
      throw new MigrationError({
        phase: 'load-header',
        detail: `Machine type received is '${record.machine}' and local is '${local}'`,
        offset: record.offset,
        errno: 'EINVAL',
      });
    }
    return null;
  }

  /** `loadSetup` of every active entry (QEMU `qemu_loadvm_state_setup`), then the ACK count. */
  private async loadSetup(): Promise<void> {
    this.phase = 'load-setup';
    trace('loadvm_state_setup', { entries: this.entries.length });
    for (const e of this.entries) {
      const h = e.handlers;
      if (!e.isActive()) continue;
      if (h.loadSetup !== undefined) {
        const context: LoadSetupContext = { entry: e, approveSwitchover: () => this.approveSwitchover(e) };
        try {
          const r = h.loadSetup(this.f, context);
          if (isPromiseLike(r)) await r;
        } catch (err) {
          throw hookFailure('load-setup', 'loadSetup', e, err, { offset: this.f.offset });
        }
      }
      if (h.switchoverAckNeeded?.() === true) this.acksPending++;
    }
    if (this.acksPending === 0) this.sendAck();
  }

  /** QEMU `qemu_loadvm_approve_switchover`. */
  private approveSwitchover(e: SaveStateEntry): void {
    if (this.acksPending === 0) {
      throw new MigrationError({
        phase: 'load-state',
        detail: 'switchover approved with no approval outstanding',
        entry: { idstr: e.idstr, instanceId: e.instanceId },
        errno: 'EINVAL',
      });
    }
    if (--this.acksPending === 0) this.sendAck();
  }

  private sendAck(): void {
    if (this.acked) return;
    this.acked = true;
    this.options.onSwitchoverAck?.();
  }

  // ---- the main loop -----------------------------------------------------------------------

  /** Dispatches every record until EOF, then reads (and ignores) the vmdesc. */
  private async loadSections_(first: StreamRecord | null): Promise<void> {
    this.phase = 'load-dispatch';
    let record = first ?? (await this.nextRecord());
    for (;;) {
      if (record === null) return;
      switch (record.type) {
        case 'start':
        case 'full':
          await this.loadStartOrFull(record);
          break;
        case 'part':
        case 'end':
          await this.loadPartOrEnd(record);
          break;
        case 'command':
          await this.handleCommand(record.command, record.name, record.offset);
          break;
        case 'eof':
          this.currentSection = undefined;
          await this.nextRecord(); // the vmdesc, read and ignored
          return;
        default:
          throw new MigrationError({
            phase: 'load-dispatch',
            detail: `unexpected ${record.type} record`,
            offset: record.offset,
            errno: 'EINVAL',
          });
      }
      record = await this.nextRecord();
    }
  }

  /** The next record; the parser checks the previous section's footer first. */
  private nextRecord(): Promise<StreamRecord | null> {
    this.phase = 'load-dispatch';
    return this.parser.next();
  }

  /** START/FULL: find the entry by idstr + instance, check the version, load. */
  private async loadStartOrFull(record: SectionRecord): Promise<void> {
    const { sectionId, idstr, instanceId, versionId } = record;
    if (isTracing('qemu_loadvm_state_section_startfull')) {
      trace('qemu_loadvm_state_section_startfull', { sectionId, idstr, instanceId, versionId });
    }
    const section = { type: record.type, sectionId, offset: record.offset };
    this.currentSection = { ...section, entry: undefined };
    const entry = this.ctx.registry.find(idstr, instanceId);
    const ref = { idstr, instanceId };
    if (entry === undefined || !this.indexOf.has(entry)) {
      throw new MigrationError({
        phase: 'load-dispatch',
        detail: `Unknown savevm section or instance '${idstr}' ${instanceId}. Make sure that your current VM setup matches your saved VM setup`,
        entry: ref,
        section,
        offset: record.offset,
        errno: 'EINVAL',
      });
    }
    if (versionId > entry.versionId) {
      throw new MigrationError({
        phase: 'load-dispatch',
        detail: `unsupported version ${versionId} for '${idstr}' v${entry.versionId} (the stream's version ${versionId} is newer than the local version ${entry.versionId})`,
        entry: ref,
        section,
        offset: record.offset,
        errno: 'EINVAL',
      });
    }
    if (versionId < entry.minimumVersionId) {
      throw new MigrationError({
        phase: 'load-dispatch',
        detail: `version ${versionId} of '${idstr}' is older than the local minimum version ${entry.minimumVersionId} (local version ${entry.versionId})`,
        entry: ref,
        section,
        offset: record.offset,
        errno: 'EINVAL',
      });
    }
    const index = this.indexOf.get(entry) as number;
    this.loadSections.set(sectionId, { entry, index, versionId });
    this.currentSection = { ...section, entry };
    await this.callLoadState(entry, index, versionId, section, record.bodyOffset);
  }

  /** PART/END: find the entry by the section id learned from its START. */
  private async loadPartOrEnd(record: SectionRecord): Promise<void> {
    const { sectionId } = record;
    if (isTracing('qemu_loadvm_state_section_partend')) trace('qemu_loadvm_state_section_partend', { sectionId });
    const section = { type: record.type, sectionId, offset: record.offset };
    const target = this.loadSections.get(sectionId);
    if (target === undefined) {
      throw new MigrationError({
        phase: 'load-dispatch',
        detail: `unknown savevm section ${sectionId}`,
        entry: { idstr: record.idstr, instanceId: record.instanceId },
        section,
        offset: record.offset,
        errno: 'EINVAL',
      });
    }
    this.currentSection = { ...section, entry: target.entry };
    await this.callLoadState(target.entry, target.index, target.versionId, section, record.bodyOffset);
  }

  private async callLoadState(
    entry: SaveStateEntry,
    index: number,
    versionId: number,
    section: SectionRef,
    bodyOffset: number,
  ): Promise<void> {
    this.phase = 'load-state';
    const hook = entry.handlers.loadState;
    if (hook !== undefined) {
      try {
        const r = hook.call(entry.handlers, this.f, versionId, entry);
        if (isPromiseLike(r)) await r;
      } catch (err) {
        throw hookFailure('load-state', 'loadState', entry, err, { section, offset: this.f.offset });
      }
    }
    this.progress.entryBytes[index] = (this.progress.entryBytes[index] as number) + (this.f.offset - bodyOffset);
  }

  /** Commands: SWITCHOVER_START reaches the entries; return-path ones are ignored; postcopy is refused. */
  private async handleCommand(command: number, name: string, offset: number): Promise<void> {
    this.currentSection = undefined;
    switch (command) {
      case MigCommand.OPEN_RETURN_PATH:
      case MigCommand.PING:
        return;
      case MigCommand.SWITCHOVER_START:
        for (const e of this.entries) {
          const hook = e.handlers.switchoverStart;
          if (hook === undefined || !e.isActive()) continue;
          try {
            const r = hook.call(e.handlers, e);
            if (isPromiseLike(r)) await r;
          } catch (err) {
            throw hookFailure('load-state', 'switchoverStart', e, err, { offset });
          }
        }
        return;
      default:
        throw new MigrationError({
          phase: 'load-dispatch',
          detail: `command ${name} is not supported by this destination (precopy only)`,
          offset,
          errno: 'ENOTSUP',
        });
    }
  }

  // ---- cleanup and the end -------------------------------------------------------------------

  /** `loadCleanup` of every entry, always (QEMU `qemu_loadvm_state_cleanup`). */
  private async loadCleanup(): Promise<MigrationError[]> {
    trace('loadvm_state_cleanup', { entries: this.entries.length });
    const failures: MigrationError[] = [];
    for (const e of this.entries) {
      const hook = e.handlers.loadCleanup;
      if (hook === undefined) continue;
      try {
        const r = hook.call(e.handlers, e);
        if (isPromiseLike(r)) await r;
      } catch (err) {
        failures.push(hookFailure('load-cleanup', 'loadCleanup', e, err));
      }
    }
    return failures;
  }

  /** Autostart, or leave the VM paused. */
  private async startOrPause(): Promise<void> {
    if (this.options.autostart !== true) {
      this.ctx.runState.setState(RunState.PAUSED);
      return;
    }
    try {
      await this.ctx.runState.start();
    } catch (err) {
      const error = new MigrationError({ phase: 'load-start-vm', detail: `starting the VM failed: ${messageOf(err)}`, cause: err });
      this.progress.errorDescription = error.message;
      this.progress.setStatus(MigrationStatus.FAILED);
      this.finish();
      throw error;
    }
  }

  private finish(): MigrationInfo {
    this.progress.markEnded();
    const info = this.progress.info();
    this.ctx.infos.next(info);
    return info;
  }

  /**
   * Shapes any failure as a MigrationError naming the section, the idstr, the instance
   * and the byte offset.
   */
  private toMigrationError(err: unknown): MigrationError {
    if (err instanceof MigrationError) return err;
    const current = this.currentSection;
    const entry = current?.entry && { idstr: current.entry.idstr, instanceId: current.entry.instanceId };
    const section = current && { type: current.type, sectionId: current.sectionId, offset: current.offset };
    if (err instanceof StreamError) {
      const footer = err.code === 'MISSING_FOOTER' || err.code === 'FOOTER_MISMATCH';
      return new MigrationError({
        phase: footer ? 'load-footer' : this.phase,
        detail: err.message,
        entry: footer ? entry : undefined,
        section: footer ? section : undefined,
        offset: err.offset,
        cause: err,
        errno: err.code === 'TRUNCATED' || err.code === 'IO' ? 'EIO' : 'EINVAL',
      });
    }
    return new MigrationError({ phase: this.phase, detail: messageOf(err), entry, section, offset: this.f.offset, cause: err });
  }
}
