/**
 * `--device SPEC`: which devices take part.
 *
 * - `emulated:NAME[,size=BYTES,flags=stop-copy|p2p|pre-copy,dirty-rate=BYTES_PER_S,dma-rate=BYTES_PER_S,seed=N]`:
 *   an emulated kernel device speaking VFIO migration v2, its state filled from the seed;
 *   with `dma-rate` (and `--memory`) it also writes guest RAM by DMA while it runs;
 * - `vfio:SYSFS_PATH_OR_MDEV_UUID`: a real VFIO device, picked up through the probe chain
 *   (v2, then v1).
 */
import { VfioMigrationFlags } from '@savevm/vfio';
import { parseBytes, parseBytesPerSecond, parseCount } from '../args/units.js';
import { UsageError } from '../args/usage-error.js';

/** An emulated VFIO v2 device. */
export interface EmulatedDeviceSpec {
  readonly kind: 'emulated';
  /** The device name; its section idstr is `NAME/vfio` on both sides. */
  readonly name: string;
  /** Size of its state, bytes. */
  readonly size: number;
  /** VFIO migration flags (STOP_COPY always included). */
  readonly migrationFlags: number;
  /** Bytes of state the running device dirties per second (0: none). */
  readonly dirtyRate: number;
  /** Bytes of guest RAM the running device writes by DMA per second, in whole 4 KiB pages (0: none; needs `--memory`). */
  readonly dmaRate: number;
  /** Seed the state is filled from. */
  readonly seed: number;
  /** The spec as written. */
  readonly text: string;
}

/** A real VFIO device. */
export interface VfioDeviceSpecText {
  readonly kind: 'vfio';
  /** A sysfs path (`/sys/bus/pci/devices/0000:01:00.0`) or an mdev UUID. */
  readonly target: string;
  /** The spec as written. */
  readonly text: string;
}

/** A parsed `--device`. */
export type DeviceSpec = EmulatedDeviceSpec | VfioDeviceSpecText;

/** Defaults of an emulated device: 1 MiB, STOP_COPY|P2P, no dirtying, seed 1. */
export const EMULATED_DEFAULTS = { size: 1024 * 1024, flags: 'stop-copy|p2p', dirtyRate: 0, dmaRate: 0, seed: 1 } as const;

const FLAG_NAMES: Readonly<Record<string, number>> = {
  'stop-copy': VfioMigrationFlags.STOP_COPY,
  p2p: VfioMigrationFlags.P2P,
  'pre-copy': VfioMigrationFlags.PRE_COPY,
};

/** The flag names of a flags value, as written in a spec. */
export function formatMigrationFlags(flags: number): string {
  return Object.entries(FLAG_NAMES)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([name]) => name)
    .join('|');
}

function parseFlags(text: string, spec: string): number {
  let flags = VfioMigrationFlags.STOP_COPY;
  for (const name of text.split(/[|+]/)) {
    const bit = FLAG_NAMES[name.trim()];
    if (bit === undefined) throw new UsageError(`--device ${spec}: unknown flag "${name}" (use stop-copy, p2p, pre-copy, joined by | or +)`);
    flags |= bit;
  }
  return flags;
}

const MDEV_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a `vfio:` target is an mdev UUID (else a sysfs path). */
export function isMdevUuid(target: string): boolean {
  return MDEV_UUID.test(target);
}

function parseEmulated(text: string, rest: string): EmulatedDeviceSpec {
  const [name = '', ...pairs] = rest.split(',');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/.test(name)) {
    throw new UsageError(`--device ${text}: the name must be 1-64 letters, digits, '_', '.', ':' or '-'`);
  }
  let size: number = EMULATED_DEFAULTS.size;
  let migrationFlags = parseFlags(EMULATED_DEFAULTS.flags, text);
  let dirtyRate: number = EMULATED_DEFAULTS.dirtyRate;
  let dmaRate: number = EMULATED_DEFAULTS.dmaRate;
  let seed: number = EMULATED_DEFAULTS.seed;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    switch (key) {
      case 'size':
        size = parseBytes(value, `--device ${text}: size`);
        if (size < 1 || size > 2 ** 31) throw new UsageError(`--device ${text}: size must be 1 byte to 2 GiB`);
        break;
      case 'flags':
        migrationFlags = parseFlags(value, text);
        break;
      case 'dirty-rate':
        dirtyRate = parseBytesPerSecond(value, `--device ${text}: dirty-rate`);
        break;
      case 'dma-rate':
        dmaRate = parseBytesPerSecond(value, `--device ${text}: dma-rate`);
        break;
      case 'seed':
        seed = parseCount(value, `--device ${text}: seed`);
        if (seed > 0xffffffff) throw new UsageError(`--device ${text}: seed must fit in 32 bits`);
        break;
      default:
        throw new UsageError(`--device ${text}: unknown option "${key}" (size, flags, dirty-rate, dma-rate, seed)`);
    }
  }
  return { kind: 'emulated', name, size, migrationFlags, dirtyRate, dmaRate, seed, text };
}

/**
 * Parses one `--device` value.
 * @throws UsageError with the spec and what is wrong
 */
export function parseDeviceSpec(text: string): DeviceSpec {
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  switch (kind) {
    case 'emulated':
      return parseEmulated(text, rest);
    case 'vfio':
      if (rest === '') throw new UsageError(`--device ${text}: expected vfio:SYSFS_PATH or vfio:MDEV_UUID`);
      return { kind: 'vfio', target: rest, text };
    default:
      throw new UsageError(`--device ${text}: unknown device kind "${kind}" (use emulated:NAME[,…] or vfio:PATH_OR_UUID)`);
  }
}

/** Parses every `--device`, refusing two devices with the same name. */
export function parseDeviceSpecs(texts: readonly string[]): DeviceSpec[] {
  const specs = texts.map(parseDeviceSpec);
  const seen = new Set<string>();
  for (const spec of specs) {
    const key = spec.kind === 'emulated' ? `emulated:${spec.name}` : `vfio:${spec.target}`;
    if (seen.has(key)) throw new UsageError(`--device ${spec.text}: this device is given twice`);
    seen.add(key);
  }
  return specs;
}
