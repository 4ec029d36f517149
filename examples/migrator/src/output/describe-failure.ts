/**
 * Any failure as one line that names the device and the phase: a migration error (phase,
 * entry → the `--device` it belongs to, hook), a transport error (URI and step), a device
 * that could not be set up, a byte-check mismatch.
 */
import { MigrationCancelledError, MigrationError, messageOf, type MigrationErrorReason } from '@savevm/core';
import { TransportError } from '@savevm/session';
import { DeviceSetupError } from '../devices/device-setup-error.js';
import { StateMismatchError } from '../check/verify-loaded-state.js';

/** A failure, described. */
export interface FailureDescription {
  /** The one line. */
  readonly line: string;
  /** The device involved (the `--device` spec), if any. */
  readonly device: string | undefined;
  /** The phase. */
  readonly phase: string | undefined;
  /** The migration's failure reason (`MigrationError.reason`), when it is one. */
  readonly reason?: MigrationErrorReason | undefined;
}

/** Maps an entry idstr to the `--device` it belongs to. */
export type DeviceOfIdstr = (idstr: string) => string | undefined;

function findTransportError(err: unknown): TransportError | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 8; depth++) {
    if (e instanceof TransportError) return e;
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

/** Describes a failure in one line. */
export function describeFailure(err: unknown, deviceOf: DeviceOfIdstr = () => undefined): FailureDescription {
  if (err instanceof MigrationCancelledError) {
    return { line: `CANCELLED during ${err.cancelledDuring}; the devices run again as before`, device: undefined, phase: err.cancelledDuring, reason: err.reason };
  }
  if (err instanceof TransportError) {
    return { line: `FAILED (transport ${err.uri}, phase ${err.phase}): ${err.detail}`, device: undefined, phase: err.phase, reason: err.reason };
  }
  if (err instanceof MigrationError) {
    const device = err.entry ? (deviceOf(err.entry.idstr) ?? `entry "${err.entry.idstr}"`) : undefined;
    const transport = findTransportError(err.cause);
    const where = [`phase ${err.phase}`];
    if (device) where.unshift(`device ${device}`);
    if (err.hook) where.push(`hook ${err.hook}`);
    if (err.section) where.push(`section ${err.section.sectionId}`);
    if (err.offset !== undefined) where.push(`byte ${err.offset}`);
    const cause = transport ? `${transport.uri}: ${transport.phase}: ${transport.detail}` : err.detail;
    if (err.phase === 'destination-verdict') {
      return { line: `FAILED (${where.join(', ')}): ${cause}; the VM and its devices run here again`, device, phase: err.phase, reason: err.reason };
    }
    return { line: `FAILED (${where.join(', ')}): ${cause}`, device, phase: err.phase, reason: err.reason };
  }
  if (err instanceof DeviceSetupError) {
    return { line: `FAILED (device ${err.device}, phase ${err.phase}): ${messageOf(err.cause)}`, device: err.device, phase: err.phase };
  }
  if (err instanceof StateMismatchError) {
    return { line: `FAILED (phase verify): ${err.message}`, device: undefined, phase: 'verify' };
  }
  return { line: `FAILED: ${messageOf(err)}`, device: undefined, phase: undefined };
}
