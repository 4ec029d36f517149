/**
 * The destination VMM: builds the same VM, waits on a URI (port 0: the system picks one, and
 * the real URI is printed), loads the migration, checks every device against the source's
 * digests before saying it loaded, then starts the guest here.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { MigrationError } from '@savevm/core';
import { ExitCode } from './exit-code.js';
import { TinyVm } from './tiny-vm.js';

/** How the destination is built. */
export interface DestinationOptions {
  /** Register version 1 of the clock (an older build of the device): the source's version 2 is refused. */
  readonly oldRtc?: boolean;
  /** Stops waiting or loading. */
  readonly signal?: AbortSignal;
}

/** Receives a VM on `uri`; resolves to the process's exit code. */
export async function runDestination(uri: string, options: DestinationOptions, log: (line: string) => void): Promise<ExitCode> {
  const vm = await TinyVm.create({ seed: 2, rtcVersion: options.oldRtc === true ? 1 : 2 });
  const incoming = vm.session.incoming(uri, {
    // A throw here fails the load, and the source hears it: both sides agree or both fail.
    verifyLoaded: () => vm.digest.check(),
    connectTimeoutMs: 30_000,
    signal: options.signal,
  });
  try {
    log(`listening ${(await incoming.listening).uri}`);
    const info = await incoming;
    log(`loaded in ${info.totalTimeMs} ms, ${info.transferredBytes} bytes; every device matches the source's digest`);
    log(`digest ${vm.fingerprint()}`);
    // Loaded paused (no autostart), so the digest above is the loaded state; now run here.
    await vm.session.runState.start();
    const before = vm.rtc.ticks;
    await delay(50);
    log(`the VM runs here now (clock ${before} → ${vm.rtc.ticks})`);
    return ExitCode.OK;
  } catch (err) {
    if (!(err instanceof MigrationError)) throw err;
    log(`failed: ${err.reason}: ${err.message}`);
    return ExitCode.FAILED;
  } finally {
    await vm.close();
  }
}
