/**
 * `savevm incoming URI --device SPEC… [--memory SIZE,…]`: the destination. Opens the
 * devices and the RAM, listens (a plain TCP destination on 127.0.0.1 unless
 * `--listen-address` says otherwise), takes the first source that connects — under TLS, the
 * first whose certificate verifies — loads the stream with live progress, checks every
 * emulated device's bytes and the RAM's against the source's, and prints the summary. The
 * VM starts unless `--paused`.
 */
import { MigrationError, type MigrationInfo } from '@savevm/core';
import { type IncomingEndpoint, formatHostPort } from '@savevm/session';
import { type IncomingCommandOptions, parseIncomingOptions } from '../args/migration-options.js';
import { UsageError } from '../args/usage-error.js';
import type { CliOutput } from '../cli-output.js';
import {
  STATE_CHECK_IDSTR,
  STATE_CHECK_MINIMUM_VERSION,
  STATE_CHECK_VERSION,
  type SourceStateRecords,
  stateCheckLoadHandlers,
} from '../check/state-check-section.js';
import { verifyLoadedRam } from '../check/verify-loaded-ram.js';
import { type DeviceVerdict, StateMismatchError, verifyLoadedState } from '../check/verify-loaded-state.js';
import { DeviceSet } from '../devices/device-set.js';
import { CliEvents } from '../output/cli-events.js';
import { showDeviceEvents } from '../output/device-events-view.js';
import { showProgress } from '../output/progress-view.js';
import { type MigrationSummary, buildSummary } from '../output/summary.js';
import { VmRam } from '../ram/vm-ram.js';
import { ExitCode, deviceLabelOf, emulatedDevicesOf, printSummary, reportFailure, tlsCredentialsOf } from './command-support.js';

/** The result of an incoming run. */
export interface IncomingOutcome {
  /** The process exit code. */
  readonly exitCode: number;
  /** The summary (undefined when it failed before a stream arrived). */
  readonly summary: MigrationSummary | undefined;
}

/** Runs `savevm incoming` with its arguments; resolves to the exit code. */
export async function runIncomingCommand(args: readonly string[], out: CliOutput): Promise<number> {
  let options: IncomingCommandOptions;
  try {
    options = parseIncomingOptions(args);
    if (options.devices.length === 0 && options.memory === undefined) throw new UsageError('incoming needs at least one --device, or --memory');
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    out.stderr(`savevm incoming: ${err.message}\nrun "savevm --help" for the usage\n`);
    return ExitCode.USAGE;
  }
  return (await incoming(options, new CliEvents(out, 'incoming', options.json ? 'json' : 'auto'), out.interrupt)).exitCode;
}

/** Tells where the destination listens, and warns about an open plain-TCP port. */
function announce(endpoint: IncomingEndpoint, events: CliEvents): void {
  const l = endpoint.address;
  if (!l) {
    events.notice(`waiting for the stream from ${endpoint.uri}`, { event: 'listening', uri: endpoint.uri });
    return;
  }
  const where = l.kind === 'tcp' ? `tcp:${formatHostPort(l.host, l.port)}` : `unix:${l.host}`;
  const scope = l.kind === 'unix' ? 'this machine only' : l.loopbackOnly ? 'loopback only; --listen-address ADDRESS to accept other hosts' : 'reachable from other hosts';
  const security = endpoint.tls ? 'TLS, client certificate required' : 'plain, no TLS';
  events.notice(`listening on ${where} (${scope}; ${security})`, {
    event: 'listening',
    uri: endpoint.uri,
    address: where,
    host: l.host,
    port: l.port,
    loopbackOnly: l.loopbackOnly,
    tls: endpoint.tls,
  });
  if (!l.loopbackOnly && !endpoint.tls) {
    events.warn(`${where} accepts device state from anyone who can reach it, unencrypted: use --tls-cert/--tls-key/--tls-ca`);
  }
}

/** Receives a migration as `options` say, reporting through `events`. */
export async function incoming(options: IncomingCommandOptions, events: CliEvents, interrupt?: AbortSignal): Promise<IncomingOutcome> {
  let devices: DeviceSet | undefined;
  let ram: VmRam | undefined;
  try {
    const tls = tlsCredentialsOf(options.tls, options.uri);
    devices = await DeviceSet.open(options.devices, { switchoverAck: options.switchoverAck });
    const { session } = devices;
    showDeviceEvents(devices, events);
    // No guest here: the RAM must hold what it loaded until it is checked.
    if (options.memory !== undefined) ram = new VmRam(options.memory, session, { guest: false, digestOnStop: false });
    // The source's devices with a DMA rate (the same --devices) wrote its RAM by DMA.
    if (ram !== undefined && options.devices.some((d) => d.kind === 'emulated' && d.dmaRate > 0)) ram.writtenByDma = true;
    const emulated = emulatedDevicesOf(devices);
    const records: SourceStateRecords = { devices: [], ram: [] };
    const checked = emulated.length > 0 || ram !== undefined;
    if (checked) {
      session.registry.register(STATE_CHECK_IDSTR, 0, STATE_CHECK_VERSION, stateCheckLoadHandlers(records), {
        minimumVersionId: STATE_CHECK_MINIMUM_VERSION,
      });
    }

    let transport = options.uri;
    let verdicts: DeviceVerdict[] | undefined;
    const progress = showProgress('destination', session.destination.info$, events, deviceLabelOf(devices, ram));
    const migration = session.incoming(options.uri, {
      autostart: !options.paused,
      switchoverAck: options.switchoverAck,
      signal: interrupt,
      tls,
      listenAddress: options.listenAddress,
      connectTimeoutMs: options.connectTimeoutMs,
      transferTimeoutMs: options.transferTimeoutMs,
      multifdChannels: options.multifdChannels,
      uuid: options.uuid,
      // A channel that does not come once the source connected: no byte moved for --timeout.
      multifdAcceptTimeoutMs: options.transferTimeoutMs,
      onPeerRefused: (address, reason) => events.warn(`refused ${address} before any device state (phase tls): ${reason}`),
      onConnected: (c) => {
        transport = c.description;
        events.notice(`connected: ${c.description}`, { event: 'connected', transport: c.description, peer: c.peer ?? null, returnPath: c.returnPath });
      },
      // The emulated devices' bytes and the RAM's are checked against the source's digests
      // before the VM starts; a mismatch fails the load, and the source hears it on the
      // return path.
      ...(checked && {
        verifyLoaded: async () => {
          // Both checks settle before either failure is reported: no rejection is left unheard.
          const [deviceVerdicts, ramVerdicts] = await Promise.all([
            Promise.resolve().then(() => verifyLoadedState(emulated, records.devices)),
            verifyLoadedRam(ram, records.ram),
          ]);
          verdicts = [...deviceVerdicts, ...ramVerdicts];
          if (verdicts.some((v) => !v.ok)) throw new StateMismatchError(verdicts);
        },
      }),
    });
    let failure: unknown;
    let info: MigrationInfo;
    try {
      announce(await migration.listening, events);
      info = await migration;
    } catch (err) {
      failure = err;
      info = session.destination.info;
    } finally {
      progress.stop();
    }
    if (info.status === 'none') {
      // Nothing arrived (no listener, or interrupted while waiting): no summary.
      const code = reportFailure(events, failure, devices, ram);
      return { exitCode: isCancelled(failure) ? ExitCode.INTERRUPTED : code, summary: undefined };
    }
    const summary = buildSummary({
      role: 'destination',
      transport,
      info,
      // The destination's own dirtying counters say nothing: the verdicts do.
      devices: [
        ...devices.devices.map((d) => {
          const { intact: _intact, pagesDirtied: _dirtied, ...report } = d.device.report(d.entry.idstr);
          return { ...report, provider: d.provider };
        }),
        ...(ram === undefined ? [] : [ram.report(false)]),
      ],
      verdicts,
    });
    printSummary(events, summary);
    if (failure !== undefined) {
      const code = reportFailure(events, failure, devices, ram);
      return { exitCode: isCancelled(failure) ? ExitCode.INTERRUPTED : code, summary };
    }
    // A load that completed with problems on the side (an exec: source command that exited
    // non-zero after its whole stream, a missing vmdesc) says them on stderr too.
    for (const warning of info.warnings) events.warn(warning);
    return { exitCode: ExitCode.OK, summary };
  } catch (err) {
    return { exitCode: reportFailure(events, err, devices, ram), summary: undefined };
  } finally {
    await ram?.close();
    devices?.close();
  }
}

function isCancelled(err: unknown): boolean {
  return err instanceof MigrationError && err.reason === 'CANCELLED';
}
