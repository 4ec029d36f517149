/**
 * Child of hostile-input tests: inspects the base64 bytes it is given and prints one JSON
 * line: `{ ok, records, warnings }` or `{ ok: false, error, code, message }`.
 */
import { inspectStream } from '@savevm/inspect';
import { StreamError } from '@savevm/stream';
import { readChildInput } from './bounded-child.js';

const { base64 } = await readChildInput<{ base64: string }>();
try {
  const result = await inspectStream(Buffer.from(base64, 'base64'));
  process.stdout.write(`${JSON.stringify({ ok: true, records: result.records.length, warnings: result.warnings })}\n`);
} catch (err) {
  if (!(err instanceof StreamError)) throw err;
  process.stdout.write(`${JSON.stringify({ ok: false, error: err.name, code: err.code, message: err.message })}\n`);
}
