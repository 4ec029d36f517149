/** A command line that cannot be run as written: exit code 2, with the usage text. */
export class UsageError extends Error {
  /** @param message what is wrong, in one line */
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
