/** QEMU's VM run states (QAPI `RunState`), by their QAPI names. */
export const RunState = {
  /** `debug`: stopped by the debugger (gdbstub breakpoint or single step). */
  DEBUG: 'debug',
  /** `inmigrate`: the destination is waiting for or loading an incoming migration. */
  INMIGRATE: 'inmigrate',
  /** `internal-error`: stopped because an emulation or accelerator error hit the VM. */
  INTERNAL_ERROR: 'internal-error',
  /** `io-error`: stopped on a block I/O error (werror/rerror=stop). */
  IO_ERROR: 'io-error',
  /** `paused`: stopped on request (QMP `stop`, `-S` after launch). */
  PAUSED: 'paused',
  /** `postmigrate`: the source after a completed migration; the guest lives on elsewhere. */
  POSTMIGRATE: 'postmigrate',
  /** `prelaunch`: created with `-S` and never started yet. */
  PRELAUNCH: 'prelaunch',
  /** `finish-migrate`: the source stopped the VM to send the final (stop-and-copy) state. */
  FINISH_MIGRATE: 'finish-migrate',
  /** `restore-vm`: stopped while a snapshot is loaded (loadvm). */
  RESTORE_VM: 'restore-vm',
  /** `running`: the vCPUs execute the guest. */
  RUNNING: 'running',
  /** `save-vm`: stopped while a snapshot is written (savevm). */
  SAVE_VM: 'save-vm',
  /** `shutdown`: the guest shut down and QEMU was told not to exit (`-no-shutdown`). */
  SHUTDOWN: 'shutdown',
  /** `suspended`: the guest is in ACPI S3 suspend. */
  SUSPENDED: 'suspended',
  /** `watchdog`: stopped because the guest watchdog fired with action pause. */
  WATCHDOG: 'watchdog',
  /** `guest-panicked`: stopped after the guest reported a panic. */
  GUEST_PANICKED: 'guest-panicked',
  /** `colo`: the secondary of a COLO (coarse-grained lock-stepping) fault-tolerance pair. */
  COLO: 'colo',
} as const;

/** One of QEMU's run-state names. */
export type RunState = (typeof RunState)[keyof typeof RunState];
