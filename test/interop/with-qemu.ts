/**
 * Skip policy of the interop tests: with `CI=true` they always run (and fail when QEMU is
 * missing); elsewhere, without QEMU, they skip with a message saying how to install it.
 */
import { describe, it } from 'vitest';
import { QEMU_BINARY_NAME, QEMU_INSTALL_HINT, findQemu } from './qemu-process.js';

/** What to do with the interop tests. */
export type QemuTestPolicy = 'run' | 'fail' | 'skip';

/** Whether `CI` in the environment asks for a CI run (`true` or `1`). */
function isCi(env: NodeJS.ProcessEnv): boolean {
  const ci = (env.CI ?? '').toLowerCase();
  return ci === 'true' || ci === '1';
}

/** Decides the policy from the environment and whether QEMU was found. */
export function qemuTestPolicy(env: NodeJS.ProcessEnv, qemuPath: string | undefined): QemuTestPolicy {
  if (qemuPath !== undefined) return 'run';
  return isCi(env) ? 'fail' : 'skip';
}

/** The message of a skipped (or, under CI, failed) interop suite. */
export function missingQemuMessage(): string {
  return `${QEMU_BINARY_NAME} not found; install it with: ${QEMU_INSTALL_HINT}`;
}

/**
 * `describe` for a suite that needs QEMU. Runs it when QEMU is there; under CI without
 * QEMU it registers one failing test instead; otherwise it skips the suite with the
 * install hint in its title (and on stderr).
 */
export function describeWithQemu(name: string, body: () => void): void {
  switch (qemuTestPolicy(process.env, findQemu())) {
    case 'run':
      describe(name, body);
      return;
    case 'fail':
      describe(name, () => {
        it('needs QEMU (CI=true never skips interop tests)', () => {
          throw new Error(missingQemuMessage());
        });
      });
      return;
    case 'skip':
      process.stderr.write(`[interop] skipping "${name}": ${missingQemuMessage()}\n`);
      describe.skip(`${name} (skipped: ${missingQemuMessage()})`, body);
      return;
  }
}
