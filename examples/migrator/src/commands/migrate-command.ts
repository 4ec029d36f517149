/**
 * `savevm migrate URI --device SPEC…`: the source. Opens the devices, starts the VM (and
 * the emulated devices' workloads), connects, migrates with live progress, and prints the
 * summary. On failure the VM and its devices run again as before, and the one error line
 * names the device and the phase.
 */
import { type MigrationInfo, type MigrationParameters, RunState } from '@savevm/core';
import { ReturnPathListener, openOutgoing, type OutgoingTransport } from '@savevm/session';
import { type MigrateOptions, parseMigrateOptions } from '../args/migration-options.js';
import { UsageError } from '../args/usage-error.js';
import type { CliOutput } from '../cli-output.js';
import { DestinationRefusedError } from '../check/destination-refused-error.js';
import { STATE_CHECK_IDSTR, STATE_CHECK_VERSION, stateCheckSaveHandlers } from '../check/state-check-section.js';
import { DeviceSet } from '../devices/device-set.js';
import { CliEvents } from '../output/cli-events.js';
import { showProgress } from '../output/progress-view.js';
import { type MigrationSummary, buildSummary } from '../output/summary.js';
import { ExitCode, emulatedDevicesOf, printSummary, reportFailure, tlsCredentialsOf } from './command-support.js';

/** The result of a migration run. */
export interface MigrateOutcome {
  /** The process exit code. */
  readonly exitCode: number;
  /** The summary (undefined when it failed before the migration began). */
  readonly summary: MigrationSummary | undefined;
}

/** Runs `savevm migrate` with its arguments; resolves to the exit code. */
export async function runMigrateCommand(args: readonly string[], out: CliOutput): Promise<number> {
  let options: MigrateOptions;
  try {
    options = parseMigrateOptions(args);
    if (options.devices.length === 0) throw new UsageError('migrate needs at least one --device');
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    out.stderr(`savevm migrate: ${err.message}\nrun "savevm --help" for the usage\n`);
    return ExitCode.USAGE;
  }
  return (await migrate(options, new CliEvents(out, 'migrate', options.json ? 'json' : 'auto'), out.interrupt)).exitCode;
}

/** Migrates as `options` say, reporting through `events`; cancelled when `interrupt` aborts. */
export async function migrate(options: MigrateOptions, events: CliEvents, interrupt?: AbortSignal): Promise<MigrateOutcome> {
  let devices: DeviceSet | undefined;
  let transport: OutgoingTransport | undefined;
  try {
    const tls = tlsCredentialsOf(options.tls, options.uri);
    devices = await DeviceSet.open(options.devices, { switchoverAck: options.switchoverAck });
    const emulated = emulatedDevicesOf(devices);
    if (emulated.length > 0) devices.registry.register(STATE_CHECK_IDSTR, 0, STATE_CHECK_VERSION, stateCheckSaveHandlers(emulated));
    const runState = devices.runState;
    await runState.start();
    if (options.paused) await runState.stop(RunState.PAUSED);
    else devices.startWorkloads();

    transport = await openOutgoing(options.uri, {
      connectTimeoutMs: options.connectTimeoutMs,
      transferTimeoutMs: options.transferTimeoutMs,
      tls,
      tlsServerName: options.tlsHostname,
    });
    events.notice(`connected: ${transport.description}`, { event: 'connected', transport: transport.description, peer: transport.peer ?? null });
    // The return path (tcp:, unix:) carries the switchover ACK and, at the end, the
    // destination's verdict on what it loaded.
    const returnPath = transport.returnPath ? new ReturnPathListener(transport.returnPath) : undefined;
    const parameters = migrationParameters(options, returnPath);

    const source = devices.source;
    const progress = showProgress('source', source.info$, events);
    const onInterrupt = (): void => void source.cancel();
    interrupt?.addEventListener('abort', onInterrupt, { once: true });
    let failure: unknown;
    let info: MigrationInfo;
    try {
      info = await source.migrate(transport.writer, parameters);
    } catch (err) {
      failure = err;
      info = source.info;
    } finally {
      progress.stop();
      interrupt?.removeEventListener('abort', onInterrupt);
    }
    if (failure === undefined && returnPath !== undefined) {
      const verdict = await returnPath.destinationVerdict(options.transferTimeoutMs);
      if (verdict === 'failed') {
        // The destination refused what it loaded: the VM must not be lost, so it runs here again.
        failure = new DestinationRefusedError(options.uri);
        await runState.start();
      } else if (verdict === undefined) {
        events.warn('the destination did not say how its load ended (no SHUT on the return path)');
      }
    }
    try {
      await transport.close();
    } catch (err) {
      failure ??= err;
    }
    devices.stopWorkloads();
    const summary = buildSummary({
      role: 'source',
      transport: options.uri,
      info,
      devices: devices.devices.map((d) => ({ ...d.device.report(d.entry.idstr), provider: d.provider })),
    });
    printSummary(events, summary);
    if (failure !== undefined) {
      const code = reportFailure(events, failure, devices);
      return { exitCode: info.status === 'cancelled' ? ExitCode.INTERRUPTED : code, summary };
    }
    return { exitCode: ExitCode.OK, summary };
  } catch (err) {
    transport?.shutdown();
    await transport?.close().catch(() => undefined);
    return { exitCode: reportFailure(events, err, devices), summary: undefined };
  } finally {
    devices?.close();
  }
}

function migrationParameters(options: MigrateOptions, returnPath: ReturnPathListener | undefined): Partial<MigrationParameters> {
  return {
    ...(options.downtimeLimitMs !== undefined && { downtimeLimitMs: options.downtimeLimitMs }),
    ...(options.maxBandwidth !== undefined && { maxBandwidth: options.maxBandwidth }),
    ...(options.availSwitchoverBandwidth !== undefined && { availSwitchoverBandwidth: options.availSwitchoverBandwidth }),
    ...(options.maxIterations !== undefined && { maxIterations: options.maxIterations }),
    ...(options.switchoverAck && returnPath && { switchoverAck: returnPath }),
  };
}
