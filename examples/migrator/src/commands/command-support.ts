/** What `migrate` and `incoming` share: reading TLS files, the byte-check entry, the ending. */
import { loadTlsCredentials, type TlsCredentialFiles, type TlsCredentials } from '@savevm/session';
import type { DeviceSet } from '../devices/device-set.js';
import { type OpenedEmulatedDevice, isEmulated } from '../devices/opened-device.js';
import type { CliEvents } from '../output/cli-events.js';
import { RAM_BLOCK_IDSTR, type VmRam } from '../ram/vm-ram.js';
import { describeFailure } from '../output/describe-failure.js';
import { type MigrationSummary, formatSummary } from '../output/summary.js';

/** Exit codes. */
export const ExitCode = { OK: 0, FAILED: 1, USAGE: 2, INTERRUPTED: 130 } as const;

/** Reads the TLS files, if TLS was asked for. */
export function tlsCredentialsOf(files: TlsCredentialFiles | undefined, uri: string): TlsCredentials | undefined {
  return files === undefined ? undefined : loadTlsCredentials(files, uri);
}

/** The emulated devices of a set. */
export function emulatedDevicesOf(set: DeviceSet): OpenedEmulatedDevice[] {
  return set.devices.map((d) => d.device).filter(isEmulated);
}

/** Maps an idstr to the `--device` it belongs to, or to `ram` for the RAM's section. */
export function deviceLabelOf(set: DeviceSet | undefined, ram?: VmRam): (idstr: string) => string | undefined {
  return (idstr) => (ram !== undefined && idstr === ram.entry.idstr ? RAM_BLOCK_IDSTR : set?.byIdstr(idstr)?.device.spec.text.split(',')[0]);
}

/** Writes the summary (text on a terminal, a JSON line otherwise). */
export function printSummary(events: CliEvents, summary: MigrationSummary): void {
  if (events.isJson) events.json({ ...summary });
  else events.text(`\n${formatSummary(summary)}`);
}

/** Reports a failure as one line and returns the exit code. */
export function reportFailure(events: CliEvents, err: unknown, set: DeviceSet | undefined, ram?: VmRam): number {
  const { line, device, phase, reason } = describeFailure(err, deviceLabelOf(set, ram));
  events.error(line, { device: device ?? null, phase: phase ?? null, reason: reason ?? null });
  return ExitCode.FAILED;
}
