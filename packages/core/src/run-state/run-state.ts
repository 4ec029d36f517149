/** QEMU's VM run states (QAPI `RunState`), by their QAPI names. */
export const RunState = {
  DEBUG: 'debug',
  INMIGRATE: 'inmigrate',
  INTERNAL_ERROR: 'internal-error',
  IO_ERROR: 'io-error',
  PAUSED: 'paused',
  POSTMIGRATE: 'postmigrate',
  PRELAUNCH: 'prelaunch',
  FINISH_MIGRATE: 'finish-migrate',
  RESTORE_VM: 'restore-vm',
  RUNNING: 'running',
  SAVE_VM: 'save-vm',
  SHUTDOWN: 'shutdown',
  SUSPENDED: 'suspended',
  WATCHDOG: 'watchdog',
  GUEST_PANICKED: 'guest-panicked',
  COLO: 'colo',
} as const;

/** One of QEMU's run-state names. */
export type RunState = (typeof RunState)[keyof typeof RunState];
