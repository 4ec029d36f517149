#!/usr/bin/env node
// build-kernel.mjs — builds (or finds cached) the kernel-lane bzImage and prints its path.
// The lane (run-lane.mjs) does this itself; this entry point exists to pre-build the kernel
// (e.g. in the background) without booting. Options: --rebuild ignores the cache.
import { fileURLToPath } from 'node:url';
import { ensureKernel } from './lib/kernel.mjs';
import { LaneError, checkDebianPackages } from './lib/util.mjs';

const fragment = fileURLToPath(new URL('./kernel.config', import.meta.url));
try {
  checkDebianPackages();
  const { bzImage } = await ensureKernel(fragment, { rebuild: process.argv.includes('--rebuild') });
  process.stdout.write(`${bzImage}\n`);
} catch (err) {
  process.stderr.write(`[kernel-lane] FAILED: ${err instanceof LaneError ? err.message : err.stack}\n`);
  process.exit(1);
}
