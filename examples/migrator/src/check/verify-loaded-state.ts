/**
 * The destination's byte check, after the stream is complete: every emulated device's
 * loaded state against the source's record of it.
 */
import type { OpenedEmulatedDevice } from '../devices/opened-device.js';
import { expectedEmulatedDigest } from '../devices/state-digest.js';
import type { SourceDeviceRecord } from './state-check-section.js';

/** The verdict on one device (or the RAM). */
export interface DeviceVerdict {
  /** The device name (the RAM block's idstr for the RAM). */
  readonly name: string;
  /** How messages and the summary name it: `emulated:NAME`, or `ram`. */
  readonly device: string;
  /** Whether the loaded bytes are the source's and the source's are what seed + dirtying give. */
  readonly ok: boolean;
  /** SHA-256 of the loaded bytes. */
  readonly sha256: string;
  /** The source's SHA-256, if it sent one. */
  readonly sourceSha256: string | undefined;
  /** What is wrong, when not ok. */
  readonly problem: string | undefined;
}

/** A mismatch between the loaded device state and the source's. */
export class StateMismatchError extends Error {
  /** @param verdicts every device's verdict (at least one not ok) */
  constructor(readonly verdicts: readonly DeviceVerdict[]) {
    const bad = verdicts.filter((v) => !v.ok);
    super(`device state check failed: ${bad.map((v) => `device ${v.device}: ${v.problem ?? 'mismatch'}`).join('; ')}`);
    this.name = new.target.name;
  }
}

/** Checks each emulated device against the source's records. */
export function verifyLoadedState(devices: readonly OpenedEmulatedDevice[], records: readonly SourceDeviceRecord[]): DeviceVerdict[] {
  const verdicts: DeviceVerdict[] = [];
  for (const device of devices) {
    const name = device.spec.name;
    const sha256 = device.digest();
    const record = records.find((r) => r.name === name);
    const verdict = (problem: string | undefined): DeviceVerdict => ({
      name,
      device: `emulated:${name}`,
      ok: problem === undefined,
      sha256,
      sourceSha256: record?.sha256,
      problem,
    });
    if (!record) {
      verdicts.push(verdict('the source sent no state check for it'));
      continue;
    }
    if (record.size !== device.spec.size) {
      verdicts.push(verdict(`size ${device.spec.size} here, ${record.size} on the source`));
      continue;
    }
    if (record.sha256 !== sha256) {
      verdicts.push(verdict(`loaded bytes (sha256 ${sha256.slice(0, 16)}…) differ from the source's (sha256 ${record.sha256.slice(0, 16)}…)`));
      continue;
    }
    const expected = expectedEmulatedDigest(record.size, record.seed, record.pagesDirtied);
    if (expected !== record.sha256) {
      verdicts.push(verdict(`the source's bytes are not what seed ${record.seed} and ${record.pagesDirtied} dirtied pages give`));
      continue;
    }
    verdicts.push(verdict(undefined));
  }
  for (const record of records) {
    if (!devices.some((d) => d.spec.name === record.name)) {
      verdicts.push({ name: record.name, device: `emulated:${record.name}`, ok: false, sha256: '', sourceSha256: record.sha256, problem: 'the source migrated it but it is not a --device here' });
    }
  }
  return verdicts;
}
