/**
 * The be64 tags that frame a VFIO device's section bodies in QEMU's migration stream, as
 * QEMU's `hw/vfio/migration.c` writes them (v2 and v1 use the same tags).
 */

/** The be64 tags inside a VFIO section. */
export const VfioTag = {
  /** Ends each VFIO section payload. */
  END_OF_STATE: 0xffffffffef100001n,
  /** The PCI config space / MSI-X vmstate follows, then END_OF_STATE (FULL section). */
  DEV_CONFIG_STATE: 0xffffffffef100002n,
  /** Opens the START section; END_OF_STATE follows at once. */
  DEV_SETUP_STATE: 0xffffffffef100003n,
  /** A be64 size and that many bytes of the device's opaque state follow. */
  DEV_DATA_STATE: 0xffffffffef100004n,
  /** QEMU 8.1+ with switchover-ack: the initial pre-copy data has been sent; ends the section without END_OF_STATE. */
  DEV_INIT_DATA_SENT: 0xffffffffef100005n,
  /** Recent QEMU, multifd: config may be loaded now; ends the section without END_OF_STATE. */
  DEV_CONFIG_LOAD_READY: 0xffffffffef100006n,
} as const;

