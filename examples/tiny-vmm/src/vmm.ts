/**
 * One VMM process: `node dist/vmm.js incoming URI [--old-rtc]` or
 * `node dist/vmm.js migrate URI`. Ctrl-C cancels a running migration.
 */
import { messageOf } from '@savevm/core';
import { runDestination } from './destination.js';
import { ExitCode } from './exit-code.js';
import { runSource } from './source.js';

const USAGE = 'usage: node dist/vmm.js incoming URI [--old-rtc] | node dist/vmm.js migrate URI';

const [command, uri, ...rest] = process.argv.slice(2);
const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());
process.once('SIGTERM', () => interrupt.abort());
const log = (line: string): void => void process.stdout.write(`${line}\n`);

try {
  if (command === 'migrate' && uri !== undefined && rest.length === 0) {
    process.exitCode = await runSource(uri, log, interrupt.signal);
  } else if (command === 'incoming' && uri !== undefined && rest.every((a) => a === '--old-rtc')) {
    process.exitCode = await runDestination(uri, { oldRtc: rest.length > 0, signal: interrupt.signal }, log);
  } else {
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = ExitCode.USAGE;
  }
} catch (err) {
  process.stderr.write(`error: ${messageOf(err)}\n`);
  process.exitCode = ExitCode.FAILED;
}
