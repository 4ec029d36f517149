/**
 * `savevm migrate --compat 7.2|10.0`: which QEMU's stream the source writes (core's
 * `streamCompat` migration parameter; docs/design/qemu-versions.md §3).
 */
import { DEFAULT_STREAM_COMPAT, type StreamCompat } from '@savevm/core';
import { UsageError } from './usage-error.js';

const NAMES: ReadonlyMap<string, StreamCompat> = new Map<string, StreamCompat>([
  ['7.2', 'qemu-7.2'],
  ['10.0', 'qemu-10.0'],
  ['qemu-7.2', 'qemu-7.2'],
  ['qemu-10.0', 'qemu-10.0'],
]);

/** The compat `--compat` names (`7.2` or `10.0`; core's names are taken too); the default when not given. */
export function parseCompat(value: string | undefined): StreamCompat {
  if (value === undefined) return DEFAULT_STREAM_COMPAT;
  const compat = NAMES.get(value);
  if (compat === undefined) throw new UsageError(`--compat takes 7.2 or 10.0 (got ${value})`);
  return compat;
}

/** How the CLI names a compat on its `connected:` line: `stream for QEMU 7.2`. */
export function describeCompat(compat: StreamCompat): string {
  return `stream for QEMU ${compat.slice('qemu-'.length)}`;
}
