/**
 * QEMU's own device descriptions as `qemu-system-x86_64 -dump-vmstate FILE` writes them,
 * in TypeScript terms. What the dump says and what it leaves out is in
 * `docs/design/qemu-vmstate.md` ("What the dump says").
 */

/** One field of a dumped description (a `Fields` entry). */
export interface QemuDumpField {
  /** The field's name (`field`); several fields of one description may share it. */
  readonly name: string;
  /** First description version whose streams carry the field (`version_id`). */
  readonly since: number;
  /** Whether the device decides at run time if the field is sent (`field_exists`). */
  readonly conditional: boolean;
  /** Bytes of one element in QEMU's memory (`size`): the wire size of most leaf kinds. */
  readonly size: number;
  /** Element count of a fixed array (`num`; dumps of QEMU 8.1 and later, fixed arrays only). */
  readonly count?: number;
  /** The nested description of a struct or tmp field (`Description`). */
  readonly description?: QemuDumpDescription;
}

/** One dumped description (a `Description` object, or a `Subsections` entry). */
export interface QemuDumpDescription {
  /** Its name (`name`); a subsection's is `parent/part`. */
  readonly name: string;
  /** The version it saves with and the newest it loads (`version_id`). */
  readonly version: number;
  /** The oldest version it loads (`minimum_version_id`). */
  readonly minimumVersion: number;
  /** Its fields in stream order (`Fields`; empty when absent). */
  readonly fields: readonly QemuDumpField[];
  /** Its subsections in the order QEMU tries them (`Subsections`; empty when absent). */
  readonly subsections: readonly QemuDumpDescription[];
}

/** One device type of the dump (a top-level key). */
export interface QemuDumpDevice {
  /** The QOM type name (the key, and `Name`). */
  readonly type: string;
  /** Its description, when the type has one (`vmschkmachine` has none). */
  readonly description?: QemuDumpDescription;
}

/** A whole dump: every device type, and every description reachable from them by name. */
export interface QemuVmstateDump {
  /** The machine type the dump was taken with (the `vmschkmachine` entry's `Name`). */
  readonly machine?: string;
  /** Device types in the dump's order. */
  readonly devices: ReadonlyMap<string, QemuDumpDevice>;
  /**
   * Every description by name, nested ones and subsections included. A name may have
   * several variants (QEMU's `fdc` of the ISA and the sysbus controllers differ); each
   * distinct variant appears once, in the order first seen.
   */
  readonly descriptions: ReadonlyMap<string, readonly QemuDumpDescription[]>;
}
