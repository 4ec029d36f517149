/** The exit codes of one VMM process. */
export const ExitCode = {
  /** The migration completed (source) or loaded and matched the source's digests (destination). */
  OK: 0,
  /** The migration failed. */
  FAILED: 1,
  /** Bad arguments. */
  USAGE: 2,
  /** Source: the destination refused the state (DESTINATION_FAILED); the VM runs on here. */
  REFUSED_STILL_RUNNING: 3,
} as const;

/** One of {@link ExitCode}'s values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
