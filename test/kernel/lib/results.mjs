// results.mjs — parses the guest runner's result block (see guest/runner.mjs) out of a serial
// log: the lines between the BEGIN and END markers, one JSON record each. Lines are stripped of
// the CR the tty adds; a line that is not valid JSON is reported, never ignored.
export const BEGIN = '=====SAVEVM-RESULTS-BEGIN=====';
export const END = '=====SAVEVM-RESULTS-END=====';

/**
 * Returns { complete, tests, reports, summary, errors } from `text`; `complete` is false when
 * the END marker (or the summary) is missing, i.e. the guest did not finish.
 */
export function parseResults(text) {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const begin = lines.lastIndexOf(BEGIN);
  const result = { complete: false, tests: [], reports: [], summary: undefined, errors: [] };
  if (begin < 0) return result;
  for (let i = begin + 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === END) {
      result.complete = result.summary !== undefined;
      break;
    }
    if (line.trim() === '') continue;
    let record;
    try {
      record = JSON.parse(line);
    } catch {
      result.errors.push(`unparsable result line: ${line.slice(0, 200)}`);
      continue;
    }
    if (record.type === 'test') result.tests.push(record);
    else if (record.type === 'report') result.reports.push(record);
    else if (record.type === 'summary') result.summary = record;
    else result.errors.push(`unknown result record: ${line.slice(0, 200)}`);
  }
  return result;
}
