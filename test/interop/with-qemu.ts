/**
 * Skip policy of the interop tests: with `CI=true` they always run (and fail when a QEMU
 * is missing); elsewhere, without it, they skip with a message saying how to get it. Every
 * suite runs once per QEMU version it is declared for ({@link describeEachQemu}).
 */
import { describe, it } from 'vitest';
import { findQemu } from './qemu-process.js';
import { qemuFacts, type QemuFacts } from './qemu-facts.js';
import { QEMU_BINARY_NAME, QEMU_INSTALL_HINTS, QEMU_VERSIONS, type QemuVersion } from './qemu-versions.js';

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
export function missingQemuMessage(version: QemuVersion = '7.2'): string {
  return `${QEMU_BINARY_NAME} ${version} not found; get it with: ${QEMU_INSTALL_HINTS[version]}`;
}

/** A suite's name, fixed or made from the version it runs against. */
export type SuiteName = string | ((version: QemuVersion) => string);

/**
 * `describe` for a suite that needs QEMU `version` (default 7.2). Runs it when that QEMU
 * is there; under CI without it, it registers one failing test instead; otherwise it skips
 * the suite with the way to get QEMU in its title (and on stderr).
 */
export function describeWithQemu(name: string, body: () => void, version: QemuVersion = '7.2'): void {
  switch (qemuTestPolicy(process.env, findQemu(version))) {
    case 'run':
      describe(name, body);
      return;
    case 'fail':
      describe(name, () => {
        it(`needs QEMU ${version} (CI=true never skips interop tests)`, () => {
          throw new Error(missingQemuMessage(version));
        });
      });
      return;
    case 'skip':
      process.stderr.write(`[interop] skipping "${name}": ${missingQemuMessage(version)}\n`);
      describe.skip(`${name} (skipped: ${missingQemuMessage(version)})`, body);
      return;
  }
}

/**
 * One suite per QEMU version (all of {@link QEMU_VERSIONS} unless `versions` says which),
 * each under {@link describeWithQemu}'s policy; `body` gets the version's facts, which say
 * where the versions differ. A fixed name gets ` [QEMU x.y]` appended.
 */
export function describeEachQemu(name: SuiteName, body: (qemu: QemuFacts) => void, versions: readonly QemuVersion[] = QEMU_VERSIONS): void {
  for (const version of versions) {
    const title = typeof name === 'string' ? `${name} [QEMU ${version}]` : name(version);
    describeWithQemu(title, () => body(qemuFacts(version)), version);
  }
}
