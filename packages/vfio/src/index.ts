/** Placeholder until this package's issue lands. */
export const PACKAGE_PENDING = true;
