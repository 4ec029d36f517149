/** The records a migration stream is made of, as the parser yields them. */

/** The file header: magic and version. */
export interface HeaderRecord {
  /** Record kind. */
  readonly type: 'header';
  /** Byte offset of the record. */
  readonly offset: number;
  /** Stream version (always 3 once accepted). */
  readonly version: number;
}

/** A subsection of the configuration section (target-page-bits, capabilities, uuid). */
export type ConfigurationSubsection =
  | {
      /** Sent when the target page size is variable (e.g. Arm). */
      readonly name: 'configuration/target-page-bits';
      /** Subsection version from the stream. */
      readonly version: number;
      /** log2 of the source's target page size. */
      readonly targetPageBits: number;
    }
  | {
      /** Migration capabilities both ends must agree on. */
      readonly name: 'configuration/capabilities';
      /** Subsection version from the stream. */
      readonly version: number;
      /** The capability names the source has on and asks the destination to check (e.g. `x-ignore-shared`). */
      readonly capabilities: readonly string[];
    }
  | {
      /** The VM's UUID, sent with `validate-uuid`. */
      readonly name: 'configuration/uuid';
      /** Subsection version from the stream. */
      readonly version: number;
      /** The 16 UUID bytes the destination compares with its own. */
      readonly uuid: Uint8Array;
    };

/** The configuration section (machine type and optional subsections). */
export interface ConfigurationRecord {
  /** Record kind. */
  readonly type: 'configuration';
  /** Byte offset of the record. */
  readonly offset: number;
  /** Machine type name, e.g. `pc-i440fx-7.2`. */
  readonly machine: string;
  /** Subsections that followed the name, in stream order. */
  readonly subsections: readonly ConfigurationSubsection[];
}

/** What identifies a section's owner. */
export interface SectionIdentity {
  /** The source's section id (matches PART/END and footers). */
  readonly sectionId: number;
  /** The owner's id string, e.g. `ram`, `0000:00:03.0/vfio`. */
  readonly idstr: string;
  /** Instance id within the idstr. */
  readonly instanceId: number;
  /** Version the source wrote. */
  readonly versionId: number;
}

/** A SECTION_START or SECTION_FULL record (full header). */
export interface FullHeaderSectionRecord extends SectionIdentity {
  /** Record kind. */
  readonly type: 'start' | 'full';
  /** Byte offset of the record. */
  readonly offset: number;
  /** Byte offset of the section body. */
  readonly bodyOffset: number;
}

/** A SECTION_PART or SECTION_END record (short header); identity resolved from its START. */
export interface ShortHeaderSectionRecord extends SectionIdentity {
  /** Record kind. */
  readonly type: 'part' | 'end';
  /** Byte offset of the record. */
  readonly offset: number;
  /** Byte offset of the section body. */
  readonly bodyOffset: number;
}

/** Any section record. */
export type SectionRecord = FullHeaderSectionRecord | ShortHeaderSectionRecord;

/** A COMMAND record. */
export interface CommandRecord {
  /** Record kind. */
  readonly type: 'command';
  /** Byte offset of the record. */
  readonly offset: number;
  /** MIG_CMD value. */
  readonly command: number;
  /** QEMU's name for it. */
  readonly name: string;
  /** The command's payload. */
  readonly payload: Uint8Array;
}

/** The EOF byte that ends the device state. */
export interface EofRecord {
  /** Record kind. */
  readonly type: 'eof';
  /** Byte offset of the record. */
  readonly offset: number;
}

/** The VMDESCRIPTION JSON after EOF. */
export interface VmdescRecord {
  /** Record kind. */
  readonly type: 'vmdesc';
  /** Byte offset of the record. */
  readonly offset: number;
  /** The JSON text. */
  readonly json: string;
}

/** Every record the parser yields. */
export type StreamRecord =
  | HeaderRecord
  | ConfigurationRecord
  | SectionRecord
  | CommandRecord
  | EofRecord
  | VmdescRecord;
