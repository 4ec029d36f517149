import { runInspect } from './commands/inspect-command.js';

/** Text of `savevm --help`. */
export const USAGE = `usage: savevm <command> [options]

commands:
  inspect FILE [--json]   list the records of a QEMU migration stream
`;

/** Where the CLI writes; replaceable in tests. */
export interface CliOutput {
  /** Normal output. */
  stdout(text: string): void;
  /** Errors and warnings. */
  stderr(text: string): void;
}

const processOutput: CliOutput = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Runs the `savevm` command line; resolves to the exit code. */
export async function main(argv: readonly string[], out: CliOutput = processOutput): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'inspect':
      return runInspect(rest, out);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      out.stdout(USAGE);
      return command === undefined ? 2 : 0;
    default:
      out.stderr(`savevm: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}
