/**
 * The keys of a vmdesc that `parseVmDescription`'s checker reads, recognised over the JSON
 * bytes (for the scan in `vmdesc-scan.ts`): each as a bit, and which ones each kind of object
 * has it read.
 */

/** The key `name`. */
export const K_NAME = 1;
/** The key `instance_id`. */
export const K_INSTANCE_ID = 2;
/** The key `size`. */
export const K_SIZE = 4;
/** The key `fields`. */
export const K_FIELDS = 8;
/** The key `subsections`. */
export const K_SUBSECTIONS = 16;
/** The key `type`. */
export const K_TYPE = 32;
/** The key `array_len`. */
export const K_ARRAY_LEN = 64;
/** The key `struct`. */
export const K_STRUCT = 128;
/** The key `vmsd_name`. */
export const K_VMSD_NAME = 256;
/** The key `devices`. */
export const K_DEVICES = 512;
/** The key `page_size`. */
export const K_PAGE_SIZE = 1024;
/** The key `configuration`. */
export const K_CONFIGURATION = 2048;

/** The keys each kind of object has the checker read, by its role (`ROLE_KEYS[role]`: document, device, field, struct; 0 for any other). */
export const ROLE_KEYS: readonly number[] = [
  K_DEVICES | K_PAGE_SIZE | K_CONFIGURATION,
  K_NAME | K_INSTANCE_ID | K_SIZE | K_FIELDS | K_SUBSECTIONS,
  K_NAME | K_TYPE | K_SIZE | K_ARRAY_LEN | K_STRUCT | K_FIELDS,
  K_VMSD_NAME | K_FIELDS | K_SUBSECTIONS,
  0,
];

const word = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const NAME = word('name');
const SIZE = word('size');
const TYPE = word('type');
const FIELDS = word('fields');
/** The bytes of `struct` (a field's `type` that needs a `struct`). */
export const STRUCT_WORD = word('struct');
const DEVICES_WORD = word('devices');
const PAGE_SIZE = word('page_size');
const ARRAY_LEN = word('array_len');
const VMSD_NAME = word('vmsd_name');
const INSTANCE_ID = word('instance_id');
const SUBSECTIONS_WORD = word('subsections');
const CONFIGURATION = word('configuration');

/** The bit of the key `buf[s, e)` (between its quotes, no escape), or 0 for one the checker never reads. */
export function keyBit(buf: Buffer, s: number, e: number): number {
  const c = buf[s];
  switch (e - s) {
    case 4:
      if (c === 0x6e) return same(buf, s, e, NAME) ? K_NAME : 0;
      if (c === 0x73) return same(buf, s, e, SIZE) ? K_SIZE : 0;
      return c === 0x74 && same(buf, s, e, TYPE) ? K_TYPE : 0;
    case 6:
      if (c === 0x66) return same(buf, s, e, FIELDS) ? K_FIELDS : 0;
      return c === 0x73 && same(buf, s, e, STRUCT_WORD) ? K_STRUCT : 0;
    case 7:
      return same(buf, s, e, DEVICES_WORD) ? K_DEVICES : 0;
    case 9:
      if (c === 0x70) return same(buf, s, e, PAGE_SIZE) ? K_PAGE_SIZE : 0;
      if (c === 0x61) return same(buf, s, e, ARRAY_LEN) ? K_ARRAY_LEN : 0;
      return c === 0x76 && same(buf, s, e, VMSD_NAME) ? K_VMSD_NAME : 0;
    case 11:
      if (c === 0x69) return same(buf, s, e, INSTANCE_ID) ? K_INSTANCE_ID : 0;
      return c === 0x73 && same(buf, s, e, SUBSECTIONS_WORD) ? K_SUBSECTIONS : 0;
    case 13:
      return same(buf, s, e, CONFIGURATION) ? K_CONFIGURATION : 0;
    default:
      return 0;
  }
}

/** Whether `buf[s, e)` is `w`. */
export function same(buf: Buffer, s: number, e: number, w: Uint8Array): boolean {
  if (e - s !== w.length) return false;
  for (let i = 0; i < w.length; i++) if (buf[s + i] !== w[i]) return false;
  return true;
}
