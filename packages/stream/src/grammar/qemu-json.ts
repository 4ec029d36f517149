/**
 * JSON text the way QEMU's JSON writer lays it out: `", "` between items and `": "`
 * after keys (the vmdesc in QEMU's own streams looks like this).
 */
export function toQemuJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`cannot encode ${typeof value} as JSON`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => toQemuJson(v)).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${toQemuJson(v)}`).join(', ')}}`;
}
