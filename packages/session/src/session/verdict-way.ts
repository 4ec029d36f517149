/**
 * Where a source's verdict comes from on each transport, decided before anything moves: a
 * source completes only once the destination's side said it has the state
 * (`docs/design/return-path.md`, "The source's verdict"). On `tcp:`, `unix:` and a socket
 * `fd:` that is SHUT on QEMU's return path; on `file:` (a regular file) and a non-socket
 * `fd:` on a file or device, the descriptor closing; on `exec:` the command's exit status.
 * A pipe has none of these: the source could say completed for a stream nobody loaded.
 */
import { type Stats, fstatSync, statSync } from 'node:fs';
import { parseMigrationUri } from '../transport/migration-uri.js';
import { TransportError } from '../transport/transport-error.js';

/** `return-path`: SHUT on the connection; `stream-end`: the close of the file or the command's exit. */
export type VerdictWay = 'return-path' | 'stream-end';

/** What the source asked for. */
export interface VerdictRequest {
  /** The `returnPath` parameter (undefined: the transport's default). */
  readonly returnPath: boolean | undefined;
  /** The `switchoverAck` parameter. */
  readonly switchoverAck: boolean | undefined;
}

/**
 * How the source learns the verdict on `uri`.
 * @throws TransportError (phase `options`, INVALID_ARGUMENT) for a migration that could end
 *   without a verdict — `returnPath: false` on a transport with a way back, or a pipe (an
 *   `fd:` that is one, a `file:` naming a FIFO) — and for a return path or switchover-ack
 *   asked of a transport without a way back
 */
export function verdictWayOf(uri: string, request: VerdictRequest): VerdictWay {
  const parsed = parseMigrationUri(uri);
  const kind =
    parsed.scheme === 'tcp' || parsed.scheme === 'unix'
      ? 'socket'
      : parsed.scheme === 'fd'
        ? kindOf(() => fstatSync(parsed.fd))
        : parsed.scheme === 'file' && kindOf(() => statSync(parsed.path)) === 'pipe'
          ? 'pipe'
          : 'other';
  const refuse = (detail: string): TransportError => new TransportError({ uri, phase: 'options', detail });
  if (kind === 'pipe') {
    throw refuse(
      `${parsed.scheme === 'fd' ? `descriptor ${parsed.fd}` : 'the path'} is a pipe: it has no way back, so the source ` +
        'could not learn whether anything loaded the stream; give a socket (its return path carries the verdict), ' +
        'a regular file, or exec:COMMAND (its exit status is the verdict)',
    );
  }
  const wayBack = kind === 'socket';
  if (request.returnPath === true && !wayBack) {
    throw refuse('the return path needs a transport with a way back (tcp:, unix: or a socket fd:)');
  }
  if (request.returnPath === false && wayBack) {
    throw refuse(
      "returnPath: false would end the migration without the destination's verdict (a state nobody loaded could " +
        'be reported completed); every savevm and QEMU destination answers the return path',
    );
  }
  if (request.switchoverAck === true && !wayBack) throw refuse('switchover-ack needs the return path');
  return wayBack ? 'return-path' : 'stream-end';
}

/** What the descriptor or path is; `other` when it cannot be told (openOutgoing then says why it cannot open it). */
function kindOf(stat: () => Stats): 'socket' | 'pipe' | 'other' {
  let st: Stats;
  try {
    st = stat();
  } catch {
    return 'other';
  }
  return st.isSocket() ? 'socket' : st.isFIFO() ? 'pipe' : 'other';
}
