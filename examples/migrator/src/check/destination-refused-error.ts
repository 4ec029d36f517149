/**
 * The destination said, on the return path, that its load failed after the source had sent
 * everything (a device refused the state it was given, say). The source then runs its VM
 * again, so nothing is lost.
 */
export class DestinationRefusedError extends Error {
  /** @param uri where the migration went */
  constructor(readonly uri: string) {
    super(`the destination at ${uri} reported that its load failed (see its error); the VM and its devices run here again`);
    this.name = new.target.name;
  }
}
