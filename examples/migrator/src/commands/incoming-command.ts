/**
 * `savevm incoming URI --device SPEC…`: the destination. Opens the devices, listens (a
 * plain TCP destination on 127.0.0.1 unless `--listen-address` says otherwise), takes the
 * first source that connects — under TLS, the first whose certificate verifies — loads the
 * stream with live progress, checks every emulated device's bytes against the source's, and
 * prints the summary. The VM starts unless `--paused`.
 */
import type { MigrationInfo } from '@savevm/core';
import { type IncomingListener, type IncomingTransport, formatHostPort, listenIncoming, sendShut, sendSwitchoverAck } from '@savevm/session';
import { type IncomingCommandOptions, parseIncomingOptions } from '../args/migration-options.js';
import { UsageError } from '../args/usage-error.js';
import type { CliOutput } from '../cli-output.js';
import { STATE_CHECK_IDSTR, STATE_CHECK_VERSION, type SourceDeviceRecord, stateCheckLoadHandlers } from '../check/state-check-section.js';
import { type DeviceVerdict, StateMismatchError, verifyLoadedState } from '../check/verify-loaded-state.js';
import { DeviceSet } from '../devices/device-set.js';
import { CliEvents } from '../output/cli-events.js';
import { showProgress } from '../output/progress-view.js';
import { type MigrationSummary, buildSummary } from '../output/summary.js';
import { ExitCode, emulatedDevicesOf, printSummary, reportFailure, tlsCredentialsOf } from './command-support.js';

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
    if (options.devices.length === 0) throw new UsageError('incoming needs at least one --device');
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    out.stderr(`savevm incoming: ${err.message}\nrun "savevm --help" for the usage\n`);
    return ExitCode.USAGE;
  }
  return (await incoming(options, new CliEvents(out, 'incoming', options.json ? 'json' : 'auto'), out.interrupt)).exitCode;
}

/** Tells where the destination listens, and warns about an open plain-TCP port. */
function announce(listener: IncomingListener, events: CliEvents): void {
  const l = listener.listening;
  if (!l) {
    events.notice(`waiting for the stream from ${listener.uri}`, { event: 'listening', uri: listener.uri });
    return;
  }
  const where = l.kind === 'tcp' ? `tcp:${formatHostPort(l.host, l.port)}` : `unix:${l.host}`;
  const scope = l.kind === 'unix' ? 'this machine only' : l.loopbackOnly ? 'loopback only; --listen-address ADDRESS to accept other hosts' : 'reachable from other hosts';
  const security = listener.tls ? 'TLS, client certificate required' : 'plain, no TLS';
  events.notice(`listening on ${where} (${scope}; ${security})`, {
    event: 'listening',
    uri: listener.uri,
    address: where,
    host: l.host,
    port: l.port,
    loopbackOnly: l.loopbackOnly,
    tls: listener.tls,
  });
  if (!l.loopbackOnly && !listener.tls) {
    events.warn(`${where} accepts device state from anyone who can reach it, unencrypted: use --tls-cert/--tls-key/--tls-ca`);
  }
}

/** Receives a migration as `options` say, reporting through `events`. */
export async function incoming(options: IncomingCommandOptions, events: CliEvents, interrupt?: AbortSignal): Promise<IncomingOutcome> {
  let devices: DeviceSet | undefined;
  let listener: IncomingListener | undefined;
  let transport: IncomingTransport | undefined;
  const onInterrupt = (): void => {
    transport?.shutdown();
    void listener?.close();
  };
  interrupt?.addEventListener('abort', onInterrupt, { once: true });
  try {
    const tls = tlsCredentialsOf(options.tls, options.uri);
    devices = await DeviceSet.open(options.devices, { switchoverAck: options.switchoverAck });
    const emulated = emulatedDevicesOf(devices);
    const records: SourceDeviceRecord[] = [];
    if (emulated.length > 0) devices.registry.register(STATE_CHECK_IDSTR, 0, STATE_CHECK_VERSION, stateCheckLoadHandlers(records));

    listener = await listenIncoming(options.uri, {
      connectTimeoutMs: options.connectTimeoutMs,
      transferTimeoutMs: options.transferTimeoutMs,
      tls,
      listenAddress: options.listenAddress,
      onPeerRefused: (address, reason) => events.warn(`refused ${address} before any device state: ${reason}`),
    });
    announce(listener, events);
    transport = await listener.accept();
    events.notice(`connected: ${transport.description}`, { event: 'connected', transport: transport.description, peer: transport.peer ?? null });
    // tcp: and unix: (the only URIs --switchover-ack is accepted with) always have one.
    const returnPath = transport.returnPath;

    const destination = devices.destination;
    const progress = showProgress('destination', destination.info$, events);
    let failure: unknown;
    let info: MigrationInfo;
    let verdicts: DeviceVerdict[] | undefined;
    try {
      info = await destination.load(transport.reader, {
        autostart: !options.paused,
        ...(returnPath && { onSwitchoverAck: () => void sendSwitchoverAck(returnPath).catch(() => undefined) }),
      });
      if (emulated.length > 0) {
        verdicts = verifyLoadedState(emulated, records);
        if (verdicts.some((v) => !v.ok)) failure = new StateMismatchError(verdicts);
      }
    } catch (err) {
      failure = err;
      info = destination.info;
    } finally {
      progress.stop();
    }
    // Tell the source how the load ended, so it runs its VM again if this side failed.
    if (returnPath !== undefined) await sendShut(returnPath, failure !== undefined).catch(() => undefined);
    try {
      await transport.close();
    } catch (err) {
      failure ??= err;
    }
    const summary = buildSummary({
      role: 'destination',
      transport: transport.description,
      info,
      // The destination's own dirtying counters say nothing: the verdicts do.
      devices: devices.devices.map((d) => {
        const { intact: _intact, pagesDirtied: _dirtied, ...report } = d.device.report(d.entry.idstr);
        return { ...report, provider: d.provider };
      }),
      verdicts,
      ...(failure !== undefined && info.status === 'completed' && { error: 'device state check failed' }),
    });
    printSummary(events, summary);
    if (failure !== undefined) return { exitCode: reportFailure(events, failure, devices), summary };
    return { exitCode: ExitCode.OK, summary };
  } catch (err) {
    return { exitCode: reportFailure(events, err, devices), summary: undefined };
  } finally {
    interrupt?.removeEventListener('abort', onInterrupt);
    await listener?.close();
    devices?.close();
  }
}
