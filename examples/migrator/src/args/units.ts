/** Numbers with units on the command line: sizes, rates and durations. */
import { UsageError } from './usage-error.js';

const SIZE_SUFFIX: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/**
 * A byte count: `4096`, `64K`/`64KiB` (×1024), `64KB` (×1000), `1M`, `2G`.
 * @throws UsageError naming `what`
 */
export function parseBytes(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const factor = m ? SIZE_SUFFIX[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || factor === undefined) throw new UsageError(`${what}: "${text}" is not a size (e.g. 4096, 64K, 1M, 2G)`);
  const value = Math.round(Number(m[1]) * factor);
  if (!Number.isSafeInteger(value)) throw new UsageError(`${what}: "${text}" is too large`);
  return value;
}

/** A rate in bytes per second: a size, optionally followed by `/s` (`100M`, `100M/s`). */
export function parseBytesPerSecond(text: string, what: string): number {
  return parseBytes(text.replace(/\/s$/i, ''), what);
}

const DURATION_SUFFIX: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, min: 60_000 };

/**
 * A duration in milliseconds: `300ms`, `5s`, `2m`; a bare number is in `bareUnit`.
 * @throws UsageError naming `what`
 */
export function parseDurationMs(text: string, what: string, bareUnit: 'ms' | 's'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? (m[2] === '' ? bareUnit : (m[2] ?? '').toLowerCase()) : '';
  const factor = DURATION_SUFFIX[unit];
  if (!m || factor === undefined) throw new UsageError(`${what}: "${text}" is not a duration (e.g. 300ms, 5s, 2m)`);
  return Math.round(Number(m[1]) * factor);
}

/** A non-negative integer (seeds, descriptor numbers). */
export function parseCount(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${what}: "${text}" is not a whole number`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new UsageError(`${what}: "${text}" is too large`);
  return value;
}
