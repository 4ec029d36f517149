#!/usr/bin/env node
import { retainFreedHeapMemory } from '@savevm/vfio';
import { main, processOutput } from '../dist/cli.js';

// This process exists to migrate: malloc keeps freed memory for reuse rather than faulting it
// back in page by page (docs/design/multifd.md, "Memory on the bulk path").
retainFreedHeapMemory();

// Ctrl-C or SIGTERM cancels a running migration (the VM runs again) instead of killing it.
// A command that has not ended a second later (blocked opening a FIFO nobody writes, say)
// exits 130 anyway, as does a second signal: every command stops within a second.
const GRACE_MS = 1000;
const INTERRUPTED = 130;
const interrupt = new AbortController();
const onSignal = () => {
  if (interrupt.signal.aborted) process.exit(INTERRUPTED);
  interrupt.abort();
  setTimeout(() => {
    process.stderr.write('savevm: interrupted; exiting without waiting for the command to end\n');
    process.exit(INTERRUPTED);
  }, GRACE_MS).unref();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

process.exitCode = await main(process.argv.slice(2), processOutput(interrupt.signal));
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
