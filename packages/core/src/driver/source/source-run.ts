/**
 * One migration's source side, top-down in the order the protocol happens (QEMU
 * migration.c + savevm.c, docs/design/handler-lifecycle.md §2):
 *
 * prepare → header → setup (START) → live loop (PART) → switchover (VM stop) →
 * complete (END, FULL, EOF, vmdesc) → cleanup; on failure or cancel: restart the VM,
 * then cleanup.
 */
import type { BehaviorSubject } from 'rxjs';
import {
  FIRST_PING_VALUE,
  MigCommand,
  SAVEVM_WORDS_PING_VALUE,
  type QemuFileWriter,
  be32Payload,
  writeCommand,
  writeConfiguration,
  writeEof,
  writeHeader,
  writeVmdesc,
} from '@savevm/stream';
import { MigrationCancelledError, MigrationError, type MigrationPhase, messageOf } from '../../errors.js';
import { reasonOf } from '../../failure-reason.js';
import type { MaybePromise, PendingBytes } from '../../handlers.js';
import type { SaveSetupContext } from '../../multifd/multifd-contract.js';
import type { MultifdSendChannels } from '../../multifd/multifd-send-channels.js';
import { DeviceStateSaveThreads } from '../../multifd/device-state-save-threads.js';
import type { MigrationNotifiers } from '../../lifecycle/migration-notifiers.js';
import type { MigrationParameters } from '../../parameters.js';
import type { SaveStateEntry } from '../../registry/save-state-entry.js';
import { type DestinationVerdict, describeVerdict } from '../../return-path.js';
import { RunStateChangeError } from '../../run-state/change-handlers.js';
import type { RunStateController } from '../../run-state/run-state-controller.js';
import { RunState } from '../../run-state/run-state.js';
import type { MigrationInfo } from '../../status/migration-info.js';
import { MigrationStatus } from '../../status/migration-status.js';
import { streamCompatRules, type StreamCompatRules } from '../../stream-compat.js';
import { trace } from '../../tracing/trace-points.js';
import type { MigrationClock } from '../clock.js';
import { callHook, cleanUpEvery, streamErrno } from '../hooks.js';
import { isPromiseLike } from '../../maybe-promise.js';
import { StatusPublisher } from '../status-publisher.js';
import { SectionWriter } from './section-writer.js';
import { SwitchoverPolicy } from './switchover-policy.js';
import { VmdescBuilder } from './vmdesc-builder.js';

/** What a run needs from the outside. */
export interface SourceRunContext {
  /** The entries taking part (the registry's list when the migration began). */
  readonly entries: readonly SaveStateEntry[];
  /** The VM's run state. */
  readonly runState: RunStateController;
  /** Migration-status hooks. */
  readonly notifiers: MigrationNotifiers;
  /** The parameters. */
  readonly params: MigrationParameters;
  /** The time source. */
  readonly clock: MigrationClock;
  /** Where infos are pushed. */
  readonly infos: BehaviorSubject<MigrationInfo>;
  /**
   * Called after the last byte was flushed and before the destination's verdict: ends the
   * stream (closes a file, waits for an `exec:` command's exit). A throw fails the migration.
   */
  readonly finishStream?: (() => Promise<void>) | undefined;
  /** The multifd channels, when the migration has them (docs/design/multifd.md). */
  readonly multifd?: MultifdSendChannels | undefined;
}

const ZERO_PENDING: PendingBytes = { mustPrecopy: 0, canPostcopy: 0 };

/** Longest wait for the verdict of a destination that hung up while the stream was being written. */
const HANGUP_VERDICT_WAIT_MS = 1000;

/** Waits for the next turn of the event loop (so `cancel()` and I/O can run). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Whether a failure, or anything in its cause chain, is a write that failed because the peer hung up. */
function peerHungUp(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    const { errno, code } = e as { errno?: unknown; code?: unknown };
    if (errno === 'EPIPE' || errno === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNRESET') return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

/** The state of one migration's source side. Create, `run()` once; `cancel()` any time. */
export class SourceRun {
  private readonly publisher: StatusPublisher;
  private readonly policy: SwitchoverPolicy;
  private readonly sections: SectionWriter;
  private readonly entries: readonly SaveStateEntry[];
  private phase: MigrationPhase = 'save-prepare';
  private cancelRequested = false;
  private wakeOnCancel: (() => void) | undefined;
  private readonly cancelled: Promise<void>;
  private cleanedUp = false;
  private downtimeStartMs = 0;
  private readonly originalBandwidth: number;
  private readonly compat: StreamCompatRules;
  /** The device-state hooks running at switchover, if any. */
  private deviceStateThreads: DeviceStateSaveThreads | undefined;
  /** What `saveSetup` is told: the multifd channels, when there are some. */
  private readonly setupContext: SaveSetupContext;

  /** @param f the stream to the destination; @param ctx the collaborators */
  constructor(
    private readonly f: QemuFileWriter,
    private readonly ctx: SourceRunContext,
  ) {
    this.entries = ctx.entries;
    const multifd = ctx.multifd;
    this.policy = new SwitchoverPolicy({ params: ctx.params, clock: ctx.clock, warn: (text) => this.publisher.warn(text) });
    this.publisher = new StatusPublisher({
      side: 'source',
      entries: ctx.entries,
      clock: ctx.clock,
      infos: ctx.infos,
      figures: this.policy,
      streamCompat: ctx.params.streamCompat,
      multifdBytes: multifd && (() => multifd.stats().map((s) => s.bytes)),
    });
    this.sections = new SectionWriter({ f, status: this.publisher, failOnStreamError: (entry) => this.checkStream(entry) });
    this.compat = streamCompatRules(ctx.params.streamCompat);
    this.cancelled = new Promise((resolve) => (this.wakeOnCancel = resolve));
    this.originalBandwidth = f.rateLimiter.bytesPerSecond;
    this.setupContext = { multifd };
  }

  /** The current status. */
  get status(): MigrationStatus {
    return this.publisher.status;
  }

  /**
   * Asks the run to stop (QEMU `migration_cancel`): status CANCELLING, the stream is shut
   * down so blocked writes fail, and the driver stops at its next check.
   * @returns false when the run has already ended
   */
  cancel(): boolean {
    const s = this.publisher.status;
    if (s === 'completed' || s === 'failed' || s === 'cancelled' || this.cancelRequested) return false;
    this.cancelRequested = true;
    this.publisher.setStatus(MigrationStatus.CANCELLING);
    this.f.shutdown();
    this.ctx.multifd?.shutdown();
    this.deviceStateThreads?.abort(new MigrationCancelledError(this.phase));
    this.wakeOnCancel?.();
    return true;
  }

  /** Runs the migration to its end; resolves with the final info or rejects with a MigrationError. */
  async run(): Promise<MigrationInfo> {
    const runState = this.ctx.runState;
    const wasRunning = runState.isRunning;
    const oldState = runState.state;
    this.publisher.setStatus(MigrationStatus.SETUP);
    try {
      await this.prepare();
      this.writeStreamHeader();
      await this.setup();
      this.publisher.markSetupDone();
      this.publisher.setStatus(MigrationStatus.ACTIVE);
      await this.iterateUntilConverged();
      await this.switchover();
      await this.complete();
      await this.finishStream();
      await this.awaitDestinationVerdict();
      this.publisher.setDowntime(this.ctx.clock.now() - this.downtimeStartMs);
      this.publisher.setTransferred(this.f.bytesWritten + (this.ctx.multifd?.bytesFlushed ?? 0));
      this.policy.notePending(0); // everything was sent
      this.publisher.setStatus(MigrationStatus.COMPLETED);
      runState.setState(RunState.POSTMIGRATE);
    } catch (err) {
      throw await this.fail(await this.blameDestination(err), wasRunning, oldState);
    } finally {
      this.f.rateLimiter.bytesPerSecond = this.originalBandwidth;
    }
    for (const failure of await this.cleanup()) this.publisher.warn(`saveCleanup: ${messageOf(failure)}`);
    for (const failure of await this.ctx.notifiers.notify({ type: 'precopy-done' })) {
      this.publisher.warn(`migration notifier: ${messageOf(failure)}`);
    }
    return this.publisher.publishFinal();
  }

  // ---- prepare and setup -------------------------------------------------------------

  /** `applyStreamCompat` of every entry, `savePrepare` of active entries, then the PRECOPY_SETUP notifiers. */
  private async prepare(): Promise<void> {
    this.phase = 'save-prepare';
    this.f.rateLimiter.bytesPerSecond = Number.isFinite(this.ctx.params.maxBandwidth) ? this.ctx.params.maxBandwidth : 0;
    for (const e of this.entries) {
      const tell = e.handlers.applyStreamCompat;
      if (tell === undefined) continue;
      callHook('save-prepare', 'applyStreamCompat', e, () => tell.call(e.handlers, this.ctx.params.streamCompat));
    }
    for (const e of this.entries) {
      const hook = e.handlers.savePrepare;
      if (hook === undefined || !e.isActive()) continue;
      this.checkCancel();
      const r = callHook('save-prepare', 'savePrepare', e, () => hook.call(e.handlers, e));
      if (isPromiseLike(r)) await r;
    }
    this.phase = 'setup-notify';
    this.checkCancel();
    try {
      await this.ctx.notifiers.notify({ type: 'precopy-setup' });
    } catch (err) {
      throw new MigrationError({ phase: 'setup-notify', reason: reasonOf(err, 'INTERNAL'), detail: `a migration notifier refused: ${messageOf(err)}`, cause: err });
    }
  }

  /** Magic, version and the configuration section. */
  private writeStreamHeader(): void {
    this.phase = 'header';
    this.checkCancel();
    writeHeader(this.f);
    const machine = this.ctx.params.machine;
    if (machine !== undefined) writeConfiguration(this.f, machine);
    trace('savevm_state_header', { machine, streamCompat: this.ctx.params.streamCompat });
    if (this.ctx.params.returnPath !== undefined) {
      // As QEMU's migration thread does right after the configuration; the second PING asks a
      // savevm destination for its error text should it fail (a QEMU destination just answers PONG).
      writeCommand(this.f, MigCommand.OPEN_RETURN_PATH);
      writeCommand(this.f, MigCommand.PING, be32Payload(FIRST_PING_VALUE));
      writeCommand(this.f, MigCommand.PING, be32Payload(SAVEVM_WORDS_PING_VALUE));
    }
    this.checkStream(undefined);
  }

  /** One SECTION_START per active live entry (QEMU `qemu_savevm_state_setup`). */
  private async setup(): Promise<void> {
    this.phase = 'save-setup';
    trace('savevm_state_setup', { entries: this.entries.length });
    await this.writeForActiveEntries('start', (e) => {
      const hook = e.handlers.saveSetup;
      return hook && (() => hook.call(e.handlers, this.f, e, this.setupContext));
    });
    await this.flush();
  }

  /**
   * One section of `kind` per active entry whose hook `bodyOf` finds, in list order; an
   * inactive entry's section is skipped (traced), and a cancel stops the loop.
   */
  private async writeForActiveEntries(kind: 'start' | 'end', bodyOf: (e: SaveStateEntry) => (() => MaybePromise<void>) | undefined): Promise<void> {
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i] as SaveStateEntry;
      const body = bodyOf(e);
      if (body === undefined) continue;
      if (!e.isActive()) {
        this.sections.skip(e, kind, 'inactive');
        continue;
      }
      this.checkCancel();
      const r = this.sections.write({ kind, index: i, entry: e, body });
      if (isPromiseLike(r)) await r;
    }
  }

  // ---- the live loop -----------------------------------------------------------------

  /**
   * Rounds of pending + iterate until the pending bytes fit the threshold (or the cap
   * decides), within the rate limit (QEMU `migration_iteration_run` + `migration_rate_limit`).
   * Each round's bytes are handed to the channel without waiting for all of them to be
   * taken, so the link stays busy while the next round is prepared; no hook is called while
   * the writer's queue is at its cap or the rate limit's window is used up: the loop waits
   * for the channel to take bytes (or the window to end) first. Bandwidth is measured on
   * the bytes the channel took.
   */
  private async iterateUntilConverged(): Promise<void> {
    this.phase = 'iterate';
    for (;;) {
      this.checkCancel();
      this.checkReturnPath();
      if (!this.f.rateLimitExceeded()) {
        if (await this.iterationRun()) return;
      }
      this.f.startFlush();
      this.ctx.multifd?.startFlush();
      this.checkStream(undefined);
      const delivered = this.f.bytesFlushed + (this.ctx.multifd?.bytesFlushed ?? 0);
      this.policy.measure(delivered);
      this.publisher.setTransferred(delivered);
      this.publisher.publish();
      if (this.f.rateLimitExceeded()) await Promise.race([this.f.waitForRateLimit(), this.cancelled]);
      else if (this.ctx.multifd?.isFull() === true) await Promise.race([this.ctx.multifd.waitForRoom().catch(() => undefined), this.cancelled]);
      else await nextTurn();
      this.checkStream(undefined);
    }
  }

  /** One decision: switch over (true) or run one iterate round (false). */
  private async iterationRun(): Promise<boolean> {
    const threshold = this.policy.thresholdBytes;
    // Bytes put but not yet taken by the channel go out during the downtime too.
    const queued = this.f.bytesQueued + (this.ctx.multifd?.bytesQueued ?? 0);
    let pending = await this.sumPending('estimate');
    let total = pending.mustPrecopy + pending.canPostcopy + queued;
    trace('migrate_pending_estimate', { ...pending, threshold });
    if (total <= threshold) {
      pending = await this.sumPending('exact');
      total = pending.mustPrecopy + pending.canPostcopy + queued;
      trace('migrate_pending_exact', { ...pending, threshold });
    }
    this.policy.notePending(total);
    // Converged, or not converging for a window of rounds and the operator's policy says go
    // (docs/design/convergence.md); either waits for the switchover ACK.
    if (this.policy.judgeRound(total, this.ctx.runState.isRunning) !== 'iterate' && this.canSwitchover()) return true;
    if (this.policy.switchoverAtCap()) return true;
    if (!(await this.iterateRound())) {
      // Nothing to send for now (no entry iterates, or every one said it is drained, as a
      // pre-copy device with no dirty data does): wait for the measuring window to close
      // instead of spinning, and keep this window's trickle out of the bandwidth estimate.
      this.policy.markIdle();
      await Promise.race([this.ctx.clock.sleep(this.policy.windowRemainingMs()), this.cancelled]);
    }
    return false;
  }

  /** Whether any active live entry has something to iterate (QEMU's per-entry filters). */
  private anyIterable(): boolean {
    for (const e of this.entries) {
      const h = e.handlers;
      if (h.saveLiveIterate !== undefined && e.isActive() && (h.isActiveIterate === undefined || h.isActiveIterate())) return true;
    }
    return false;
  }

  /** Whether switchover may happen now (QEMU `migration_can_switchover`). */
  private canSwitchover(): boolean {
    const gate = this.ctx.params.switchoverAck;
    return gate === undefined || !this.ctx.runState.isRunning || gate.isAcknowledged();
  }

  /** Sums the pending hooks of active entries; `exact` falls back to the estimate hook. */
  private async sumPending(kind: 'estimate' | 'exact'): Promise<PendingBytes> {
    let mustPrecopy = 0;
    let canPostcopy = 0;
    for (const e of this.entries) {
      const h = e.handlers;
      const hook = kind === 'exact' ? (h.statePendingExact ?? h.statePendingEstimate) : h.statePendingEstimate;
      if (hook === undefined || !e.isActive()) continue;
      const name = kind === 'exact' && h.statePendingExact ? 'statePendingExact' : 'statePendingEstimate';
      const r = callHook(kind === 'exact' ? 'pending-exact' : 'pending-estimate', name, e, () => hook.call(h, e));
      const p = (isPromiseLike(r) ? await r : r) ?? ZERO_PENDING;
      mustPrecopy += p.mustPrecopy;
      canPostcopy += p.canPostcopy;
    }
    return { mustPrecopy, canPostcopy };
  }

  /**
   * One SECTION_PART per active, iterate-active live entry, in list order; stops in the
   * middle of the list when the rate limit is used up (QEMU `qemu_savevm_state_iterate`).
   * Returns false when no entry had anything to iterate, or every entry visited said it has
   * nothing more for now (the round still counts toward the iteration cap).
   */
  private async iterateRound(): Promise<boolean> {
    const f = this.f;
    const iteration = this.policy.countIteration();
    if (!this.anyIterable()) return false;
    let drained = true;
    trace('savevm_state_iterate', { iteration });
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i] as SaveStateEntry;
      const h = e.handlers;
      const hook = h.saveLiveIterate;
      if (hook === undefined) continue;
      if (!e.isActive() || (h.isActiveIterate !== undefined && !h.isActiveIterate())) {
        this.sections.skip(e, 'part', 'inactive');
        continue;
      }
      if (f.rateLimitExceeded()) {
        this.sections.skip(e, 'part', 'rate-limited');
        return true;
      }
      this.checkCancel();
      const r = this.sections.write({ kind: 'part', index: i, entry: e, body: () => hook.call(h, f, e) });
      const done = (isPromiseLike(r) ? await r : r) === true; // awaited whatever `drained` already is
      drained &&= done;
    }
    return !drained;
  }

  // ---- switchover and completion -----------------------------------------------------

  /**
   * Stops the VM through the run state (QEMU `vm_stop_force_state(FINISH_MIGRATE)`):
   * prepare callbacks (VFIO RUNNING_P2P) then change callbacks, highest priority first.
   */
  private async switchover(): Promise<void> {
    this.phase = 'switchover';
    this.checkCancel();
    this.downtimeStartMs = this.ctx.clock.now();
    const wasRunning = this.ctx.runState.isRunning;
    try {
      await this.ctx.runState.stop(RunState.FINISH_MIGRATE);
    } catch (err) {
      const first = err instanceof RunStateChangeError ? err.failures[0] : undefined;
      throw new MigrationError({
        phase: 'switchover',
        reason: reasonOf(err, first ? 'DEVICE_FAILED' : 'INTERNAL'),
        detail: `stopping the VM failed: ${messageOf(err)}`,
        entry: first?.entry,
        hook: first ? `run-state ${first.phase}` : undefined,
        cause: err,
      });
    }
    trace('migration_completion_vm_stop', { wasRunning });
    this.publisher.setStatus(MigrationStatus.DEVICE);
    this.f.rateLimiter.bytesPerSecond = 0;
  }

  /**
   * END sections, FULL sections, EOF and the vmdesc (QEMU
   * `qemu_savevm_state_complete_precopy`), then a flush.
   */
  private async complete(): Promise<void> {
    const f = this.f;
    trace('savevm_state_complete_precopy', { entries: this.entries.length });
    this.phase = 'complete-precopy';
    // QEMU 10.0 tells the destination's handlers that switchover begins (its
    // `switchover_start` hooks) right before the END sections; QEMU 7.2 refuses the command.
    // It leaves at once, as QEMU flushes every command: the destination starts its load work
    // there, while the device-state threads below send.
    if (this.compat.switchoverStart) {
      writeCommand(f, MigCommand.SWITCHOVER_START);
      f.startFlush();
    }
    // With multifd device state, each device sends its stop-copy state on the channels
    // beside the END sections, and the driver waits for all of them after the last END.
    const multifd = this.ctx.multifd;
    const threads = multifd?.settings.deviceState === true ? DeviceStateSaveThreads.start(this.entries, multifd) : undefined;
    this.deviceStateThreads = threads;
    await this.writeForActiveEntries('end', (e) => {
      const hook = e.handlers.saveLiveCompletePrecopy;
      return hook && (() => hook.call(e.handlers, f, e));
    });
    if (threads !== undefined) {
      await threads.join();
      this.checkMultifd();
    }
    const vmdesc = await this.saveNonLive();
    this.phase = 'finish';
    this.checkCancel();
    writeEof(f);
    if (vmdesc) writeVmdesc(f, vmdesc.toJson());
    this.checkStream(undefined);
    await this.flush();
    await this.flushMultifd();
  }

  /** Writes out what the multifd channels still hold; fails naming the channel. */
  private async flushMultifd(): Promise<void> {
    const multifd = this.ctx.multifd;
    if (multifd === undefined) return;
    try {
      await multifd.flush();
    } catch (err) {
      if (this.cancelRequested) throw new MigrationCancelledError(this.phase);
      throw err;
    }
  }

  /** Fails on a multifd channel's failure (it names the channel). */
  private checkMultifd(): void {
    const error = this.ctx.multifd?.error;
    if (error === undefined) return;
    if (this.cancelRequested) throw new MigrationCancelledError(this.phase);
    throw error;
  }

  /** One SECTION_FULL per entry with `saveState` (no `isActive` check, as QEMU), then the vmdesc. */
  private async saveNonLive(): Promise<VmdescBuilder | undefined> {
    this.phase = 'save-state';
    const f = this.f;
    const machine = this.ctx.params.machine;
    const configuration = this.compat.vmdescConfiguration && machine !== undefined ? machine : undefined;
    const vmdesc = this.ctx.params.sendVmdesc ? new VmdescBuilder(configuration) : undefined;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i] as SaveStateEntry;
      const hook = e.handlers.saveState;
      if (hook === undefined) continue;
      if (this.cancelRequested) this.checkCancel();
      const r = this.sections.write({
        kind: 'full',
        index: i,
        entry: e,
        body: () => hook.call(e.handlers, f, e),
        bodyWritten: vmdesc && ((bytes) => vmdesc.addSection(e, bytes)),
      });
      if (isPromiseLike(r)) await r;
    }
    return vmdesc;
  }

  /** The embedder's end of the stream (see {@link SourceRunContext.finishStream}). */
  private async finishStream(): Promise<void> {
    const finish = this.ctx.finishStream;
    if (finish === undefined) return;
    this.phase = 'finish';
    try {
      await finish();
    } catch (err) {
      if (this.cancelRequested) throw new MigrationCancelledError(this.phase);
      throw err instanceof MigrationError
        ? err
        : new MigrationError({ phase: 'finish', reason: 'CONNECT_FAILED', detail: `ending the stream failed: ${messageOf(err)}`, cause: err });
    }
  }

  // ---- the destination's verdict ------------------------------------------------------

  /**
   * With a return path, the migration is complete only when the destination says it loaded
   * everything (SHUT 0); a SHUT that says it failed, a path that closes, breaks or stays
   * silent past `verdictTimeoutMs` fails the migration, and the VM runs here again.
   */
  private async awaitDestinationVerdict(): Promise<void> {
    const rp = this.ctx.params.returnPath;
    if (rp === undefined) return;
    this.phase = 'destination-verdict';
    const verdict = await Promise.race([rp.waitForVerdict(this.ctx.params.verdictTimeoutMs), this.cancelled.then(() => undefined)]);
    this.checkCancel();
    if (verdict !== undefined) trace('migration_destination_verdict', { verdict: verdict.kind });
    if (verdict !== undefined && verdict.kind !== 'loaded') throw this.destinationFailure(verdict);
  }

  /** Fails early when the return path already says the migration cannot succeed. */
  private checkReturnPath(): void {
    const verdict = this.ctx.params.returnPath?.earlyVerdict();
    if (verdict !== undefined && verdict.kind !== 'loaded') throw this.destinationFailure(verdict);
  }

  /**
   * A destination that refuses the stream hangs up while the source may still be writing
   * it (a savevm one after SHUT 1, a QEMU 7.2 one without SHUT), so the write fails with
   * EPIPE or ECONNRESET. With a return path its verdict says why: that becomes the failure
   * (DESTINATION_FAILED), with the write error as its cause. Waits briefly for it.
   */
  private async blameDestination(err: unknown): Promise<unknown> {
    const rp = this.ctx.params.returnPath;
    if (rp === undefined || this.cancelRequested || !peerHungUp(err)) return err;
    const verdict = await rp.waitForVerdict(Math.min(HANGUP_VERDICT_WAIT_MS, this.ctx.params.verdictTimeoutMs));
    return verdict.kind === 'loaded' || verdict.kind === 'timeout' ? err : this.destinationFailure(verdict, err);
  }

  private destinationFailure(verdict: DestinationVerdict, cause?: unknown): MigrationError {
    return new MigrationError({
      phase: this.phase,
      reason: 'DESTINATION_FAILED',
      detail: describeVerdict(verdict),
      errno: verdict.kind === 'timeout' ? 'ETIMEDOUT' : 'EIO',
      ...(cause !== undefined && { cause }),
    });
  }

  // ---- failure, cleanup, end -----------------------------------------------------------

  /**
   * The failure path (QEMU `migration_iteration_finish` + `migration_cleanup`): status
   * FAILED (or stay CANCELLING), restart the VM if it ran before, then `saveCleanup` of
   * every entry, then CANCELLED, then the PRECOPY_FAILED notifiers.
   */
  private async fail(err: unknown, wasRunning: boolean, oldState: RunState): Promise<MigrationError> {
    const error = this.cancelRequested
      ? err instanceof MigrationCancelledError
        ? err
        : new MigrationCancelledError(this.phase)
      : err instanceof MigrationError
        ? err
        : new MigrationError({ phase: this.phase, reason: reasonOf(err, 'INTERNAL'), detail: messageOf(err), cause: err });
    this.deviceStateThreads?.abort(error);
    this.ctx.multifd?.shutdown();
    // No device-state hook may still touch its device when the VM runs again.
    await this.deviceStateThreads?.settled();
    this.publisher.setError(error);
    this.publisher.setTransferred(this.f.bytesFlushed + (this.ctx.multifd?.bytesFlushed ?? 0));
    if (!this.cancelRequested) this.publisher.setStatus(MigrationStatus.FAILED);
    const runState = this.ctx.runState;
    try {
      if (wasRunning) await runState.start();
      else runState.setState(oldState);
    } catch (restartError) {
      error.suppressed.push(
        new MigrationError({
          phase: 'restart',
          reason: reasonOf(restartError, 'INTERNAL'),
          detail: `restarting the VM failed: ${messageOf(restartError)}`,
          cause: restartError,
        }),
      );
    }
    for (const failure of await this.cleanup()) error.suppressed.push(failure);
    if (this.cancelRequested) this.publisher.setStatus(MigrationStatus.CANCELLED);
    for (const failure of await this.ctx.notifiers.notify({ type: 'precopy-failed', error })) error.suppressed.push(failure);
    this.publisher.publishFinal();
    return error;
  }

  /** `saveCleanup` of every entry, exactly once per run; returns what failed. */
  private async cleanup(): Promise<MigrationError[]> {
    if (this.cleanedUp) return [];
    this.cleanedUp = true;
    return cleanUpEvery(this.entries, {
      hook: 'saveCleanup',
      phase: 'save-cleanup',
      tracePoint: 'savevm_state_cleanup',
      invoke: (e) => e.handlers.saveCleanup?.(e),
    });
  }

  // ---- small helpers ---------------------------------------------------------------------

  private checkCancel(): void {
    if (this.cancelRequested) throw new MigrationCancelledError(this.phase);
  }

  /** Fails on a sticky stream error, naming the entry whose section was being written. */
  private checkStream(entry: SaveStateEntry | undefined): void {
    const error = this.f.error;
    if (error === undefined) {
      this.checkMultifd();
      return;
    }
    if (this.cancelRequested) throw new MigrationCancelledError(this.phase);
    throw new MigrationError({
      phase: this.phase,
      reason: reasonOf(error, 'CONNECT_FAILED'),
      detail: `stream error: ${error.message}`,
      entry: entry && { idstr: entry.idstr, instanceId: entry.instanceId },
      cause: error,
      errno: streamErrno(error),
    });
  }

  private async flush(): Promise<void> {
    try {
      await this.f.flush();
    } catch {
      this.checkStream(undefined);
    }
  }
}
