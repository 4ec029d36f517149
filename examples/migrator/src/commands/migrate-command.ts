/**
 * `savevm migrate URI --device SPEC… [--memory SIZE,…]`: the source. Opens the devices and
 * the RAM, starts the VM (and the emulated devices' workloads and the RAM's guest),
 * connects, migrates with live progress, and prints the summary. On failure the VM and its
 * devices run again as before, and the one error line names the device and the phase.
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
import { showDeviceEvents } from '../output/device-events-view.js';
import { showProgress } from '../output/progress-view.js';
import { type MigrationSummary, buildSummary } from '../output/summary.js';
import { VmRam } from '../ram/vm-ram.js';
import { DeviceDma } from '../ram/device-dma.js';
import { ExitCode, deviceLabelOf, emulatedDevicesOf, printSummary, reportFailure, tlsCredentialsOf } from './command-support.js';

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
    if (options.devices.length === 0 && options.memory === undefined) throw new UsageError('migrate needs at least one --device, or --memory');
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
  let ram: VmRam | undefined;
  try {
    const tls = tlsCredentialsOf(options.tls, options.uri);
    devices = await DeviceSet.open(options.devices, {
      switchoverAck: options.switchoverAck,
      allowMultiDeviceWithoutP2P: options.allowMultiDeviceWithoutP2P,
    });
    const { session } = devices;
    showDeviceEvents(devices, events);
    // The RAM's guest runs with the VM, so a paused VM gets none.
    if (options.memory !== undefined) ram = new VmRam(options.memory, session, { guest: !options.paused, digestOnStop: true });
    const emulated = emulatedDevicesOf(devices);
    // Devices with a DMA rate write the RAM: their DMA dirty tracking feeds its dirty log.
    if (ram !== undefined) DeviceDma.attach(emulated, ram, session, true);
    if (emulated.length > 0 || ram !== undefined) {
      session.registry.register(STATE_CHECK_IDSTR, 0, STATE_CHECK_VERSION, stateCheckSaveHandlers(emulated, ram));
    }
    await session.runState.start();
    if (options.paused) await session.runState.stop(RunState.PAUSED);
    else devices.startWorkloads();

    const progress = showProgress('source', session.source.info$, events, deviceLabelOf(devices, ram));
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
          const channels = options.multifdChannels === undefined ? '' : `; ${options.multifdChannels} multifd channels`;
          events.notice(`connected: ${c.description}${via}${channels}; ${describeCompat(options.compat)}`, {
            event: 'connected',
            transport: c.description,
            peer: c.peer ?? null,
            returnPath: c.returnPath,
            multifdChannels: options.multifdChannels ?? 0,
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
    ram?.stopGuest();
    const summary = buildSummary({
      role: 'source',
      transport: options.uri,
      info,
      devices: [
        ...devices.devices.map((d) => ({ ...d.device.report(d.entry.idstr), provider: d.provider })),
        ...(ram === undefined ? [] : [ram.report(true)]),
      ],
    });
    // A migration that never began (no connection) has no summary worth printing.
    if (info.status !== 'none') printSummary(events, summary);
    if (failure !== undefined) {
      const code = reportFailure(events, failure, devices, ram);
      return { exitCode: info.status === 'cancelled' ? ExitCode.INTERRUPTED : code, summary: info.status === 'none' ? undefined : summary };
    }
    return { exitCode: ExitCode.OK, summary };
  } catch (err) {
    return { exitCode: reportFailure(events, err, devices, ram), summary: undefined };
  } finally {
    await ram?.close();
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
    ...(options.stallRounds !== undefined && { stallWindowRounds: options.stallRounds }),
    ...(options.multifdChannels !== undefined && { multifdChannels: options.multifdChannels }),
    ...(options.uuid !== undefined && { uuid: options.uuid }),
    convergencePolicy: options.convergencePolicy,
    streamCompat: options.compat,
  };
}
