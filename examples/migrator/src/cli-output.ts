/** Where the CLI writes; replaceable in tests. */

/** The CLI's output and its surroundings. */
export interface CliOutput {
  /** Normal output. */
  stdout(text: string): void;
  /** Errors and warnings. */
  stderr(text: string): void;
  /** The terminal stdout is, if it is one (a progress bar is drawn on it); undefined otherwise. */
  readonly terminal?: NodeJS.WritableStream | undefined;
  /** Aborted on Ctrl-C / SIGTERM: a running migration is cancelled. */
  readonly interrupt?: AbortSignal | undefined;
}
