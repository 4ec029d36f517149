/** The options of `savevm migrate` and `savevm incoming`, parsed and checked. */
import { parseArgs } from 'node:util';
import type { ConvergencePolicy, StreamCompat } from '@savevm/core';
import { type TlsCredentialFiles } from '@savevm/session';
import { type DeviceSpec, parseDeviceSpecs } from '../devices/device-spec.js';
import { type MemorySpec, parseMemorySpec } from './memory-spec.js';
import { parseBytesPerSecond, parseCount, parseDurationMs } from './units.js';
import { UsageError } from './usage-error.js';
import { parseCompat } from './compat-option.js';
import { parseMultifdOptions } from './multifd-option.js';
import { parseConvergePolicy, parseStallRounds } from './convergence-option.js';

/** Options both sides share. */
export interface CommonOptions {
  /** The migration URI. */
  readonly uri: string;
  /** The devices. */
  readonly devices: readonly DeviceSpec[];
  /** The guest RAM (`--memory`), if the VM has any. */
  readonly memory: MemorySpec | undefined;
  /** JSON lines even on a terminal. */
  readonly json: boolean;
  /** Transfer timeout, ms (no byte moved for this long: fail). */
  readonly transferTimeoutMs: number;
  /** Connect timeout, ms (source default 10 s; destination: wait for a peer forever). */
  readonly connectTimeoutMs: number | undefined;
  /** TLS credential files (all three or none). */
  readonly tls: TlsCredentialFiles | undefined;
  /** The `switchover-ack` capability. */
  readonly switchoverAck: boolean;
  /** Source: migrate a paused VM (snapshot). Destination: stay paused after loading. */
  readonly paused: boolean;
  /** Multifd channels besides the main connection (`--multifd-channels`; undefined: off). */
  readonly multifdChannels: number | undefined;
  /** The VM's uuid that multifd channels announce (`--uuid`; default all zero). */
  readonly uuid: string | undefined;
}

/** `savevm migrate` options. */
export interface MigrateOptions extends CommonOptions {
  /** Downtime limit, ms. */
  readonly downtimeLimitMs: number | undefined;
  /** Bandwidth limit, bytes/s (0: unlimited). */
  readonly maxBandwidth: number | undefined;
  /** Bandwidth to assume for the switchover decision, bytes/s (QEMU avail-switchover-bandwidth). */
  readonly availSwitchoverBandwidth: number | undefined;
  /** Most pre-copy iterations before switching over anyway. */
  readonly maxIterations: number | undefined;
  /** The name the destination certificate must carry (default: the URI host). */
  readonly tlsHostname: string | undefined;
  /** Which QEMU's stream to write (`--compat 7.2|10.0`; default qemu-7.2). */
  readonly compat: StreamCompat;
  /** What to do once pre-copy stops converging (`--converge`; default keep going). */
  readonly convergencePolicy: ConvergencePolicy;
  /** Rounds without the pending bytes shrinking that count as not converging (`--stall-rounds`; default core's 10). */
  readonly stallRounds: number | undefined;
  /** Migrate several VFIO devices although some lack P2P (`--allow-multi-device-without-p2p`). */
  readonly allowMultiDeviceWithoutP2P: boolean;
}

/** `savevm incoming` options. */
export interface IncomingCommandOptions extends CommonOptions {
  /** Address a tcp: destination binds to (default 127.0.0.1). */
  readonly listenAddress: string | undefined;
}

/** The default transfer timeout: 30 s without a byte moving. */
export const DEFAULT_TRANSFER_TIMEOUT_MS = 30_000;

const COMMON = {
  device: { type: 'string', multiple: true },
  memory: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  'connect-timeout': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  'switchover-ack': { type: 'boolean' },
  paused: { type: 'boolean' },
  'multifd-channels': { type: 'string' },
  uuid: { type: 'string' },
} as const;

function parse<T extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>>(args: readonly string[], extra: T) {
  try {
    return parseArgs({ args: [...args], options: { ...COMMON, ...extra }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
}

function common(command: string, values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): CommonOptions {
  if (positionals.length !== 1) throw new UsageError(`${command} takes one URI (got ${positionals.length === 0 ? 'none' : positionals.join(' ')})`);
  const str = (k: string): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : undefined;
  };
  const cert = str('tls-cert');
  const key = str('tls-key');
  const ca = str('tls-ca');
  const given = [cert, key, ca].filter((v) => v !== undefined).length;
  if (given !== 0 && given !== 3) throw new UsageError('TLS needs all of --tls-cert, --tls-key and --tls-ca');
  const devices = values.device;
  const memory = values.memory;
  if (Array.isArray(memory) && memory.length > 1) throw new UsageError('--memory is given more than once (the VM has one RAM block)');
  const timeout = str('timeout');
  const connectTimeout = str('connect-timeout');
  const transferTimeoutMs = timeout === undefined ? DEFAULT_TRANSFER_TIMEOUT_MS : parseDurationMs(timeout, '--timeout', 's');
  if (transferTimeoutMs <= 0) throw new UsageError('--timeout must be more than 0');
  const uri = positionals[0] ?? '';
  const switchoverAck = values['switchover-ack'] === true;
  // The ack travels back on the connection: only a socket has that way back. Said now,
  // before a file is created or a command started.
  if (switchoverAck && !/^(tcp|unix):/.test(uri)) {
    throw new UsageError(`--switchover-ack needs a return path between the two sides: use tcp: or unix:, not ${uri || 'no URI'}`);
  }
  const deviceSpecs = parseDeviceSpecs(Array.isArray(devices) ? devices : []);
  const dmaDevice = deviceSpecs.find((d) => d.kind === 'emulated' && d.dmaRate > 0);
  // DMA writes guest RAM: without --memory there is none to write.
  if (dmaDevice !== undefined && !(Array.isArray(memory) && memory.length > 0)) {
    throw new UsageError(`--device ${dmaDevice.text}: dma-rate needs --memory (the device writes guest RAM by DMA)`);
  }
  return {
    uri,
    devices: deviceSpecs,
    memory: Array.isArray(memory) && memory[0] !== undefined ? parseMemorySpec(memory[0]) : undefined,
    json: values.json === true,
    transferTimeoutMs,
    connectTimeoutMs: connectTimeout === undefined ? undefined : parseDurationMs(connectTimeout, '--connect-timeout', 's'),
    tls: cert !== undefined && key !== undefined && ca !== undefined ? { certFile: cert, keyFile: key, caFile: ca } : undefined,
    switchoverAck,
    paused: values.paused === true,
    ...parseMultifdOptions(uri, str('multifd-channels'), str('uuid')),
  };
}

/** Parses `savevm migrate` arguments. */
export function parseMigrateOptions(args: readonly string[]): MigrateOptions {
  const { values, positionals } = parse(args, {
    'downtime-limit': { type: 'string' },
    'max-bandwidth': { type: 'string' },
    'max-iterations': { type: 'string' },
    'avail-switchover-bandwidth': { type: 'string' },
    'tls-hostname': { type: 'string' },
    compat: { type: 'string' },
    converge: { type: 'string' },
    'stall-rounds': { type: 'string' },
    'allow-multi-device-without-p2p': { type: 'boolean' },
  });
  const v = values as Record<string, string | boolean | string[] | undefined>;
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const downtime = str('downtime-limit');
  const bandwidth = str('max-bandwidth');
  const iterations = str('max-iterations');
  const avail = str('avail-switchover-bandwidth');
  return {
    ...common('migrate', v, positionals),
    downtimeLimitMs: downtime === undefined ? undefined : parseDurationMs(downtime, '--downtime-limit', 'ms'),
    maxBandwidth: bandwidth === undefined ? undefined : parseBytesPerSecond(bandwidth, '--max-bandwidth'),
    availSwitchoverBandwidth: avail === undefined ? undefined : parseBytesPerSecond(avail, '--avail-switchover-bandwidth'),
    maxIterations: iterations === undefined ? undefined : parseCount(iterations, '--max-iterations'),
    tlsHostname: str('tls-hostname'),
    compat: parseCompat(str('compat')),
    convergencePolicy: parseConvergePolicy(str('converge')),
    stallRounds: parseStallRounds(str('stall-rounds')),
    allowMultiDeviceWithoutP2P: v['allow-multi-device-without-p2p'] === true,
  };
}

/** Parses `savevm incoming` arguments. */
export function parseIncomingOptions(args: readonly string[]): IncomingCommandOptions {
  const { values, positionals } = parse(args, { 'listen-address': { type: 'string' } });
  const v = values as Record<string, string | boolean | string[] | undefined>;
  const listen = v['listen-address'];
  return { ...common('incoming', v, positionals), listenAddress: typeof listen === 'string' ? listen : undefined };
}
