/**
 * The source VMM: builds the VM, lets the guest run, and migrates it live to a URI while
 * printing the status as it changes.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { MigrationError } from '@savevm/core';
import { ExitCode } from './exit-code.js';
import { TinyVm } from './tiny-vm.js';

/** Migrates a freshly built, running VM to `uri`; resolves to the process's exit code. */
export async function runSource(uri: string, log: (line: string) => void, signal?: AbortSignal): Promise<ExitCode> {
  const vm = await TinyVm.create({ seed: 1 });
  vm.rtc.alarm = 500n; // the register version 2 of the clock added
  await vm.session.runState.start();
  await delay(100); // the guest runs for a while before the migration

  // One line per status and per round of the live loop.
  let last = '';
  const progress = vm.session.source.info$.subscribe((info) => {
    const now = `${info.status} ${info.iterations}`;
    if (info.status === 'none' || now === last) return;
    last = now;
    log(`${info.status}, round ${info.iterations}: ${info.transferredBytes} bytes sent, ${info.remainingBytes} remaining`);
  });
  try {
    // A slow link and a short downtime limit, so the RAM goes over in several live rounds;
    // and a cap on the rounds, after which the VM stops anyway (the default policy), so a
    // guest that dirties faster than the link can carry cannot keep the migration going.
    const info = await vm.session.migrate(uri, { downtimeLimitMs: 100, maxBandwidth: 32 * 1024 * 1024, maxIterations: 30, signal });
    log(`migrated in ${info.totalTimeMs} ms (downtime ${info.downtimeMs} ms, ${info.iterations} iterations); the destination confirmed the load`);
    log(`digest ${vm.fingerprint()}`);
    return ExitCode.OK;
  } catch (err) {
    if (!(err instanceof MigrationError)) throw err;
    log(`failed: ${err.reason}: ${err.message}`);
    if (err.reason === 'DESTINATION_FAILED' && vm.session.runState.isRunning) {
      const before = vm.rtc.ticks;
      await delay(50);
      log(`the VM runs on here (clock ${before} → ${vm.rtc.ticks})`);
      return ExitCode.REFUSED_STILL_RUNNING;
    }
    return ExitCode.FAILED;
  } finally {
    progress.unsubscribe();
    await vm.close();
  }
}
