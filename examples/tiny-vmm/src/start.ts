/**
 * `npm start` (mode `live`) and `npm run start:refused` (mode `refused`): runs the two VMM
 * processes, shows what each prints, and exits 0 only when the mode's outcome happened.
 */
import { ExitCode } from './exit-code.js';
import { type PairMode, type PairResult, runPair } from './pair.js';

/** What each mode expects of the two processes. */
function verdict(mode: PairMode, { source, destination }: PairResult): string | undefined {
  if (mode === 'live') {
    if (source.code !== ExitCode.OK || destination.code !== ExitCode.OK) return `exit codes: source ${source.code}, destination ${destination.code} (expected 0 and 0)`;
    const digest = (lines: readonly string[]): string | undefined => lines.find((l) => l.startsWith('digest '));
    if (digest(source.lines) === undefined || digest(source.lines) !== digest(destination.lines)) return 'the two sides printed different digests';
    return undefined;
  }
  if (source.code !== ExitCode.REFUSED_STILL_RUNNING || destination.code !== ExitCode.FAILED) {
    return `exit codes: source ${source.code}, destination ${destination.code} (expected ${ExitCode.REFUSED_STILL_RUNNING} and ${ExitCode.FAILED})`;
  }
  return undefined;
}

const mode: PairMode = process.argv[2] === 'refused' ? 'refused' : 'live';
const result = await runPair(mode, (role, line) => process.stdout.write(`[${role.padEnd(11)}] ${line}\n`));
const problem = verdict(mode, result);
process.stdout.write(
  problem === undefined
    ? mode === 'live'
      ? 'OK: the VM moved between two processes, and both sides agree on every byte\n'
      : 'OK: the destination refused the newer clock, and the source VM kept running (source exit 3)\n'
    : `UNEXPECTED: ${problem}\n`,
);
process.exitCode = problem === undefined ? 0 : 1;
