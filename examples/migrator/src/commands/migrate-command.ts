/**
 * `savevm migrate URI --device SPEC…`: the source. Opens the devices, starts the VM (and
 * the emulated devices' workloads), connects, migrates with live progress, and prints the
 * summary. On failure the VM and its devices run again as before, and the one error line
 * names the device and the phase.
 */
import { type MigrationInfo, RunState } from '@savevm/core';
import type { MigrateParameters } from '@savevm/session';
import { type MigrateOptions, parseMigrateOptions } from '../args/migration-options.js';
import { UsageError } from '../args/usage-error.js';
import { describeCompat } from '../args/compat-option.js';
import type { CliOutput } from '../cli-output.js';
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
  try {
    const tls = tlsCredentialsOf(options.tls, options.uri);
    devices = await DeviceSet.open(options.devices, { switchoverAck: options.switchoverAck });
    const { session } = devices;
    const emulated = emulatedDevicesOf(devices);
    if (emulated.length > 0) session.registry.register(STATE_CHECK_IDSTR, 0, STATE_CHECK_VERSION, stateCheckSaveHandlers(emulated));
    await session.runState.start();
    if (options.paused) await session.runState.stop(RunState.PAUSED);
    else devices.startWorkloads();

    const progress = showProgress('source', session.source.info$, events);
    let failure: unknown;
    let info: MigrationInfo;
    try {
      info = await session.migrate(options.uri, {
        ...migrationParameters(options),
        tls,
        tlsServerName: options.tlsHostname,
        connectTimeoutMs: options.connectTimeoutMs,
        transferTimeoutMs: options.transferTimeoutMs,
        signal: interrupt,
        onConnected: (c) => {
          const via = c.returnPath ? '; return path open' : '';
          events.notice(`connected: ${c.description}${via}; ${describeCompat(options.compat)}`, {
            event: 'connected',
            transport: c.description,
            peer: c.peer ?? null,
            returnPath: c.returnPath,
            streamCompat: options.compat,
          });
        },
      });
    } catch (err) {
      failure = err;
      info = session.source.info;
    } finally {
      progress.stop();
    }
    devices.stopWorkloads();
    const summary = buildSummary({
      role: 'source',
      transport: options.uri,
      info,
      devices: devices.devices.map((d) => ({ ...d.device.report(d.entry.idstr), provider: d.provider })),
    });
    // A migration that never began (no connection) has no summary worth printing.
    if (info.status !== 'none') printSummary(events, summary);
    if (failure !== undefined) {
      const code = reportFailure(events, failure, devices);
      return { exitCode: info.status === 'cancelled' ? ExitCode.INTERRUPTED : code, summary: info.status === 'none' ? undefined : summary };
    }
    return { exitCode: ExitCode.OK, summary };
  } catch (err) {
    return { exitCode: reportFailure(events, err, devices), summary: undefined };
  } finally {
    devices?.close();
  }
}

function migrationParameters(options: MigrateOptions): MigrateParameters {
  return {
    ...(options.downtimeLimitMs !== undefined && { downtimeLimitMs: options.downtimeLimitMs }),
    ...(options.maxBandwidth !== undefined && { maxBandwidth: options.maxBandwidth }),
    ...(options.availSwitchoverBandwidth !== undefined && { availSwitchoverBandwidth: options.availSwitchoverBandwidth }),
    ...(options.maxIterations !== undefined && { maxIterations: options.maxIterations }),
    ...(options.switchoverAck && { switchoverAck: true }),
    streamCompat: options.compat,
  };
}
