/**
 * How QEMU describes a vmstate in the vmdesc JSON, as far as it depends on the
 * description alone: the names it prints for fields (repeated names get `[n]`), the
 * `type` of each field, and whether an array is printed once with `array_len`
 * ("compressed") or once per element with `index`.
 */
import type { VmStateDescription } from './description.js';
import type { VmStateElement, VmStateField } from './fields.js';

const namesCache = new WeakMap<object, readonly string[]>();

/**
 * The vmdesc name of each field, in order: the field's name, or `name[k]` (k counting
 * from 0) when several fields of the description share the name, as QEMU prints
 * repeated `unused` fields.
 */
export function vmdescFieldNames(d: VmStateDescription<unknown>): readonly string[] {
  let names = namesCache.get(d);
  if (names) return names;
  const total = new Map<string, number>();
  for (const f of d.fields) total.set(f.name, (total.get(f.name) ?? 0) + 1);
  const seen = new Map<string, number>();
  names = d.fields.map((f) => {
    if ((total.get(f.name) ?? 0) < 2) return f.name;
    const k = seen.get(f.name) ?? 0;
    seen.set(f.name, k + 1);
    return `${f.name}[${k}]`;
  });
  namesCache.set(d, names);
  return names;
}

/** The vmdesc `type` of a field's elements. */
export function vmdescType(field: VmStateField<unknown>): string {
  if (field.info !== undefined) return field.info;
  switch (field.kind) {
    case 'scalar':
      return field.element.type;
    case 'buffer':
    case 'vbuffer':
      return 'buffer';
    case 'unused':
      return 'unused_buffer';
    case 'struct':
      return 'struct';
    default:
      return elementType(field.element);
  }
}

function elementType(element: VmStateElement<unknown>): string {
  return element.kind === 'scalar' ? element.type : 'struct';
}

const compressCache = new WeakMap<object, boolean>();

/**
 * Whether an array of these elements is printed once with `array_len` (true) or once per
 * element with `index` (false). As QEMU: structs with subsections anywhere inside are
 * printed per element, because each element may differ. Unlike QEMU, so are structs with
 * a variable-length buffer or array inside (QEMU would print the first element's size
 * for all, and a vmdesc-guided reader such as `savevm inspect` would misread the rest).
 */
export function canCompress(element: VmStateElement<unknown>): boolean {
  if (element.kind === 'scalar') return true;
  return structCanCompress(element.description);
}

function structCanCompress(d: VmStateDescription<unknown>): boolean {
  const cached = compressCache.get(d);
  if (cached !== undefined) return cached;
  let ok = (d.subsections?.length ?? 0) === 0;
  for (const f of d.fields) {
    if (!ok) break;
    if (f.kind === 'vbuffer' || f.kind === 'varray') ok = false;
    else if (f.kind === 'struct') ok = structCanCompress(f.description);
    else if (f.kind === 'array' && f.element.kind === 'struct') ok = structCanCompress(f.element.description);
  }
  compressCache.set(d, ok);
  return ok;
}
