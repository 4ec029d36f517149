#!/usr/bin/env node
import { main, processOutput } from '../dist/cli.js';

// Ctrl-C or SIGTERM cancels a running migration (the VM runs again) instead of killing it.
const interrupt = new AbortController();
const onSignal = () => interrupt.abort();
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

process.exitCode = await main(process.argv.slice(2), processOutput(interrupt.signal));
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
