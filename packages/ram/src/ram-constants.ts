/**
 * The fixed numbers of QEMU's `ram` section (docs/design/ram-section.md §1, §2, §4).
 */

/** The target page: every RAM block is a whole number of these, and one record carries one. */
export const TARGET_PAGE_SIZE = 4096;

/** log2 of {@link TARGET_PAGE_SIZE}: the record word's flags live in the bits below it. */
export const TARGET_PAGE_BITS = 12;

/** The section's idstr. */
export const RAM_SECTION_IDSTR = 'ram';

/** The section's instance id. */
export const RAM_SECTION_INSTANCE_ID = 0;

/** The section's version, the only one QEMU's loader accepts. */
export const RAM_SECTION_VERSION = 4;

/** Longest RAM block idstr in bytes (a counted string). */
export const MAX_RAM_BLOCK_IDSTR_LENGTH = 255;

/** Longest time one iterate round sends pages, in ms (QEMU's `MAX_WAIT`). */
export const ITERATE_MAX_WAIT_MS = 50;

/** How many pages an iterate round sends between two looks at the clock (as QEMU). */
export const ITERATE_CLOCK_CHECK_PAGES = 64;
