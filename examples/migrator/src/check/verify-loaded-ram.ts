/**
 * The destination's RAM check, after the stream is complete: the loaded RAM against the
 * source's record of it, as {@link verifyLoadedState} checks the emulated devices. The
 * destination's own seed plays no part: its RAM must hold the source's bytes, whatever it
 * was filled with before the load.
 */
import type { VmRam } from '../ram/vm-ram.js';
import { firstSeededDifference } from '../devices/seeded-bytes.js';
import type { SourceRamRecord } from './state-check-section.js';
import type { DeviceVerdict } from './verify-loaded-state.js';

/**
 * The verdicts on the RAM: this side's block against the source's record, and any record
 * for a block this side does not have. No RAM on either side gives none. The loaded RAM is
 * hashed on the digest thread (to compare with the source's digest) while this thread
 * compares it with the bytes the source's seed and guest writes give.
 */
export async function verifyLoadedRam(ram: VmRam | undefined, records: readonly SourceRamRecord[]): Promise<DeviceVerdict[]> {
  const verdicts: DeviceVerdict[] = [];
  if (ram !== undefined) {
    const name = ram.block.idstr;
    const loaded = ram.digestInBackground();
    const record = records.find((r) => r.name === name);
    // Pages a device wrote by DMA are in no seed: then the source's digest alone says what the bytes must be.
    const seeded = record !== undefined && record.size === ram.spec.size && !ram.writtenByDma;
    const difference = seeded ? firstSeededDifference(ram.block.bytes, record.seed, record.pagesDirtied) : undefined;
    const sha256 = await loaded;
    const verdict = (problem: string | undefined): DeviceVerdict => ({
      name,
      device: name,
      ok: problem === undefined,
      sha256,
      sourceSha256: record?.sha256,
      problem,
    });
    verdicts.push(verdict(ramProblem(ram, sha256, record, difference)));
  }
  for (const record of records) {
    if (record.name !== ram?.block.idstr) {
      verdicts.push({ name: record.name, device: record.name, ok: false, sha256: '', sourceSha256: record.sha256, problem: 'the source migrated this RAM block but there is no --memory here' });
    }
  }
  return verdicts;
}

/**
 * What is wrong with the loaded RAM, or undefined: `sha256` is its digest, `difference`
 * where it first differs from what the record's seed and writes give.
 */
function ramProblem(ram: VmRam, sha256: string, record: SourceRamRecord | undefined, difference: number | undefined): string | undefined {
  if (record === undefined) return 'the source sent no state check for it (did it have --memory?)';
  if (record.size !== ram.spec.size) return `size ${ram.spec.size} here, ${record.size} on the source`;
  if (record.sha256 !== sha256) {
    return `loaded bytes (sha256 ${sha256.slice(0, 16)}…) differ from the source's (sha256 ${record.sha256.slice(0, 16)}…)`;
  }
  // The loaded bytes are the source's: where they differ from seed + writes, so did the source's.
  if (difference !== undefined) {
    return `the source's bytes are not what seed ${record.seed} and ${record.pagesDirtied} guest writes give (first difference at byte ${difference})`;
  }
  return undefined;
}
