/**
 * A VMDESCRIPTION checked over its bytes without being built: the JSON syntax and every
 * refusal of `parseVmDescription` (shape, the 2^20-value budget, the depth limit of 64),
 * and a table of where each device entry is, so that an entry is parsed only when a FULL
 * section needs it (see `docs/design/hostile-input.md`, "Cost").
 *
 * It may only say yes to what `parseVmDescription` accepts. Where it is not sure — a
 * syntax error, a refusal, a key written with escapes, a key the checker reads given twice
 * (`JSON.parse` keeps the last) — it gives up, and the caller parses the whole text the
 * usual way, which accepts it or says why not with the usual message.
 */
import { MAX_VMDESC_COUNT, MAX_VMDESC_DEPTH, MAX_VMDESC_SIZE, MAX_VMDESC_VALUES } from '@savevm/stream';
import {
  K_ARRAY_LEN,
  K_CONFIGURATION,
  K_DEVICES,
  K_FIELDS,
  K_INSTANCE_ID,
  K_NAME,
  K_PAGE_SIZE,
  K_SIZE,
  K_STRUCT,
  K_SUBSECTIONS,
  K_TYPE,
  K_VMSD_NAME,
  ROLE_KEYS,
  STRUCT_WORD,
  keyBit,
  same,
} from './vmdesc-keys.js';
import { Columns, type VmdescTable } from './vmdesc-table.js';

export type { VmdescTable } from './vmdesc-table.js';

/** Thrown inside the scanner to give up; never leaves this module. */
class GiveUp {}
const GIVE_UP = new GiveUp();

// What a container is to the checker.
const DOC = 0;
const DEVICE = 1;
const FIELD = 2;
const STRUCT = 3;
const OTHER = 4;
const DEVICES = 5;
const FIELD_LIST = 6;
const SUBSECTIONS = 7;
const OTHER_ARRAY = 8;

/** Containers open at once beyond which the scan gives up. */
const MAX_FRAMES = 4 * MAX_VMDESC_DEPTH + 16;

/** One open container. Frames are reused from depth to depth (no allocation per container). */
class Frame {
  role = DOC;
  /** The checker's `depth` for what this container holds. */
  depth = 0;
  /** Keys met (objects). */
  seen = 0;
  /** The key whose value is being read (objects; 0 for one the checker ignores). */
  key = 0;
  /** Members or elements so far. */
  members = 0;
  /** Values described by what this container holds so far. */
  values = 0;
  /** A field's `array_len` (-1: none). */
  arrayLen = -1;
  /** A field's type is `struct`. */
  typeIsStruct = false;
  /** A device entry's index in the table. */
  entry = -1;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66));
}

/** The scanner: one pass over the bytes, an explicit stack of {@link Frame}s. */
class Scanner {
  private readonly frames: Frame[] = [];
  private top = -1;
  /** Values of the whole document so far (the checker's running total). */
  private total = 0;
  private pageSize = 4096;
  readonly columns: Columns;
  /** The same bytes, for comparing four at a time. */
  private readonly view: DataView;
  /** Where the rest of the device entry being read starts (after its instance id), -1 when it has none. */
  private restStart = -1;
  /** Where the instance id's number of the device entry being read starts. */
  private numberStart = -1;
  /** The same, until {@link repeatedRest} looked at it. */
  private restAt = -1;
  /** The last device entry whose rest was checked token by token: its index, where its rest is, what it counts. */
  private template = -1;
  private templateStart = 0;
  private templateEnd = 0;
  private templateValues = 0;
  /** The template's text before its name's characters (`{"name": "`), and between them and its instance id's number. */
  private headStart = 0;
  private headEnd = 0;
  private middleStart = 0;
  private middleEnd = 0;
  /** The last string token held an escape / a byte of 0x80 or more. */
  private escaped = false;
  private nonAscii = false;

  /** @param buf the JSON text's bytes, and nothing after them */
  constructor(private readonly buf: Buffer) {
    this.end = buf.length;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    // An entry takes 27 bytes at least and QEMU's take a hundred or more: a guess that the
    // columns seldom have to grow, and hold little that is never used.
    this.columns = new Columns(Math.max(256, buf.length >> 8));
  }

  private readonly end: number;

  table(): VmdescTable {
    const c = this.columns;
    return {
      pageSize: this.pageSize,
      count: c.count,
      starts: c.starts,
      ends: c.ends,
      nameStarts: c.nameStarts,
      nameEnds: c.nameEnds,
      plainNames: c.plainNames,
      templates: c.templates,
      instanceIds: c.instanceIds,
    };
  }

  private ws(p: number): number {
    const buf = this.buf;
    for (;;) {
      const c = buf[p];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else return p;
    }
  }

  /** A string token at `p` (its opening quote); where it ends. Sets {@link escaped} and {@link nonAscii}. */
  private string(p: number): number {
    const buf = this.buf;
    const end = this.end;
    let escaped = false;
    let nonAscii = false;
    for (let i = p + 1; i < end; i++) {
      const c = buf[i] as number;
      if (c === 0x22) {
        this.escaped = escaped;
        this.nonAscii = nonAscii;
        return i + 1;
      }
      if (c === 0x5c) {
        escaped = true;
        const n = buf[i + 1];
        if (n === 0x75) {
          if (!isHex(buf[i + 2]) || !isHex(buf[i + 3]) || !isHex(buf[i + 4]) || !isHex(buf[i + 5])) throw GIVE_UP;
          i += 5;
        } else if (n === 0x22 || n === 0x5c || n === 0x2f || n === 0x62 || n === 0x66 || n === 0x6e || n === 0x72 || n === 0x74) {
          i++;
        } else {
          throw GIVE_UP;
        }
      } else if (c < 0x20) {
        throw GIVE_UP;
      } else if (c >= 0x80) {
        nonAscii = true;
      }
    }
    throw GIVE_UP;
  }

  /** A number token at `p`; where it ends. */
  private number(p: number): number {
    const buf = this.buf;
    if (buf[p] === 0x2d) p++;
    if (buf[p] === 0x30) p++;
    else if (isDigit(buf[p])) while (isDigit(buf[p])) p++;
    else throw GIVE_UP;
    if (buf[p] === 0x2e) {
      p++;
      if (!isDigit(buf[p])) throw GIVE_UP;
      while (isDigit(buf[p])) p++;
    }
    if (buf[p] === 0x65 || buf[p] === 0x45) {
      p++;
      if (buf[p] === 0x2b || buf[p] === 0x2d) p++;
      if (!isDigit(buf[p])) throw GIVE_UP;
      while (isDigit(buf[p])) p++;
    }
    return p;
  }

  /** The value of the number token `buf[s, e)`, as `JSON.parse` gives it. */
  private numberValue(s: number, e: number): number {
    const buf = this.buf;
    if (e - s <= 15) {
      let v = 0;
      let i = s;
      for (; i < e; i++) {
        const c = buf[i] as number;
        if (c < 0x30 || c > 0x39) break;
        v = v * 10 + (c - 0x30);
      }
      if (i === e) return v;
    }
    return Number(buf.toString('latin1', s, e));
  }

  /** A literal (`true`, `false`, `null`) at `p`; where it ends. */
  private literal(p: number): number {
    const buf = this.buf;
    const c = buf[p];
    const text = c === 0x74 ? 'true' : c === 0x66 ? 'false' : c === 0x6e ? 'null' : undefined;
    if (text === undefined || p + text.length > this.end) throw GIVE_UP;
    for (let i = 1; i < text.length; i++) if (buf[p + i] !== text.charCodeAt(i)) throw GIVE_UP;
    return p + text.length;
  }

  private push(role: number, depth: number): Frame {
    // Deeper than any description the checker accepts needs (64 levels of a few containers
    // each), it can only be a value the checker ignores: the parser decides about it.
    if (this.top + 1 >= MAX_FRAMES) throw GIVE_UP;
    const top = ++this.top;
    let f = this.frames[top];
    if (f === undefined) this.frames.push((f = new Frame()));
    f.role = role;
    f.depth = depth;
    f.seen = 0;
    f.key = 0;
    f.members = 0;
    f.values = 0;
    f.arrayLen = -1;
    f.typeIsStruct = false;
    f.entry = -1;
    return f;
  }

  /** The key `buf[s, e)` (between its quotes) as the checker reads it in `f`: its bit, or 0. */
  private keyOf(f: Frame, s: number, e: number): number {
    const wanted = ROLE_KEYS[f.role] ?? 0;
    if (wanted === 0) return 0;
    if (this.escaped) throw GIVE_UP; // might spell a key the checker reads
    if (this.nonAscii) return 0;
    const bit = keyBit(this.buf, s, e) & wanted;
    if (bit === 0) return 0;
    if ((f.seen & bit) !== 0) throw GIVE_UP; // given twice: JSON.parse keeps the last
    f.seen |= bit;
    return bit;
  }

  /**
   * Checks the whole text; throws {@link GIVE_UP} where `parseVmDescription` would refuse
   * it, or might.
   */
  run(): void {
    const buf = this.buf;
    let p = this.ws(0);
    // The value at `p`, for the container on top (or the document).
    value: for (;;) {
      const c = buf[p];
      const parent = this.top >= 0 ? (this.frames[this.top] as Frame) : undefined;
      const role = parent === undefined ? -1 : parent.role;
      const key = parent === undefined ? 0 : parent.key;
      if (c === 0x7b) {
        // A device entry that repeats the last one checked but for its name and instance id is done at once.
        const repeated = role === DEVICES && this.template >= 0 ? this.repeatedEntry(p) : -1;
        if (repeated >= 0) {
          p = repeated;
        } else {
          this.openObject(parent, role, key, p);
          p = this.ws(p + 1);
          if (buf[p] === 0x7d) {
            p = this.close(p + 1);
          } else {
            p = this.member(p);
            continue value;
          }
        }
      } else if (c === 0x5b) {
        this.openArray(parent, role, key);
        p = this.ws(p + 1);
        if (buf[p] === 0x5d) {
          p = this.close(p + 1);
        } else {
          (this.frames[this.top] as Frame).members++;
          continue value;
        }
      } else if (c === 0x22) {
        const e = this.string(p);
        this.scalarString(parent, role, key, p, e);
        p = e;
      } else if (c === 0x2d || isDigit(c)) {
        const e = this.number(p);
        this.scalarNumber(parent, role, key, p, e);
        p = e;
        if (this.restAt === e) {
          // A device entry's rest: when it repeats the last one checked, the entry is done.
          const q = this.repeatedRest(parent as Frame, e);
          if (q >= 0) p = q;
        }
      } else {
        p = this.literal(p);
        this.scalarOther(role, key);
      }
      // After a value: the next member or element, or the end of containers.
      for (;;) {
        if (this.top < 0) {
          if (this.ws(p) !== this.end) throw GIVE_UP;
          return;
        }
        const f = this.frames[this.top] as Frame;
        p = this.ws(p);
        const d = buf[p];
        if (d === 0x2c) {
          p = this.ws(p + 1);
          if (f.role <= OTHER) {
            p = this.member(p);
          } else {
            f.members++;
          }
          continue value;
        }
        if (d === (f.role <= OTHER ? 0x7d : 0x5d)) {
          p = this.close(p + 1);
          continue;
        }
        throw GIVE_UP;
      }
    }
  }

  /**
   * When the bytes at `p` repeat the rest of the last device entry checked token by token,
   * closes the entry `f` (it holds what that one held, in the same place: the same values,
   * the same verdict) and returns where it ends; else -1, and it is read token by token.
   */
  private repeatedRest(f: Frame, p: number): number {
    this.restAt = -1;
    const t = this.template;
    if (t < 0) return -1;
    const start = this.templateStart;
    const length = this.templateEnd - start;
    if (p + length > this.end || !this.sameBytes(start, p, length)) return -1;
    this.top--;
    this.count(this.templateValues);
    const cols = this.columns;
    cols.ends[f.entry] = p + length;
    cols.templates[f.entry] = t;
    return p + length;
  }

  /**
   * When the device entry at `p` (its `{`) is the template's text with another name and
   * instance id (the bytes before the name, between it and the number, and after the
   * number the same), records it and returns where it ends; else -1, and it is read token
   * by token. The bytes that match are the tokens the template was checked with, in the
   * same order: the entry is what the template was, with its own name and instance id.
   */
  private repeatedEntry(p: number): number {
    const buf = this.buf;
    const head = this.headEnd - this.headStart;
    if (p + head > this.end || !this.sameBytes(this.headStart, p, head)) return -1;
    const nameStart = p + head - 1;
    const nameEnd = this.string(nameStart);
    const middle = this.middleEnd - this.middleStart;
    const n = nameEnd - 1 + middle;
    if (n > this.end || !this.sameBytes(this.middleStart, nameEnd - 1, middle)) return -1;
    const c = buf[n];
    if (c !== 0x2d && !isDigit(c)) return -1; // more space than the template's: token by token
    const numberEnd = this.number(n);
    const rest = this.templateEnd - this.templateStart;
    if (numberEnd + rest > this.end || !this.sameBytes(this.templateStart, numberEnd, rest)) return -1;
    const cols = this.columns;
    const i = cols.add(p);
    cols.nameStarts[i] = nameStart;
    cols.nameEnds[i] = nameEnd;
    cols.plainNames[i] = this.escaped || this.nonAscii ? 0 : 1;
    cols.instanceIds[i] = this.numberValue(n, numberEnd);
    cols.ends[i] = numberEnd + rest;
    cols.templates[i] = this.template;
    this.count(this.templateValues);
    return numberEnd + rest;
  }

  /** Whether the `length` bytes at `a` and at `b` are the same (a native compare costs more for a hundred bytes). */
  private sameBytes(a: number, b: number, length: number): boolean {
    const view = this.view;
    let i = 0;
    for (; i + 4 <= length; i += 4) if (view.getInt32(a + i) !== view.getInt32(b + i)) return false;
    for (; i < length; i++) if (view.getUint8(a + i) !== view.getUint8(b + i)) return false;
    return true;
  }

  /** A member's key and colon at `p`; where its value starts. */
  private member(p: number): number {
    const buf = this.buf;
    const f = this.frames[this.top] as Frame;
    if (buf[p] !== 0x22) throw GIVE_UP;
    const e = this.string(p);
    const key = this.keyOf(f, p + 1, e - 1);
    f.key = key;
    f.members++;
    p = this.ws(e);
    if (buf[p] !== 0x3a) throw GIVE_UP;
    return this.ws(p + 1);
  }

  /** Opens the object whose `{` is at `p`, as what its parent makes it. */
  private openObject(parent: Frame | undefined, role: number, key: number, p: number): void {
    if (parent === undefined) {
      this.push(DOC, 0);
    } else if (role === DEVICES) {
      const f = this.push(DEVICE, 1);
      f.entry = this.columns.add(p);
    } else if (role === FIELD_LIST) {
      this.push(FIELD, parent.depth);
    } else if (role === SUBSECTIONS) {
      this.pushStruct(parent.depth + 1);
    } else if (key === K_CONFIGURATION) {
      this.pushStruct(1);
    } else if (key === K_STRUCT) {
      this.pushStruct(parent.depth + 1);
    } else if (key === 0 || key === K_PAGE_SIZE) {
      this.push(OTHER, 0);
    } else {
      throw GIVE_UP; // a key the checker reads, whose value may not be an object
    }
  }

  private pushStruct(depth: number): void {
    if (depth > MAX_VMDESC_DEPTH) throw GIVE_UP;
    this.push(STRUCT, depth);
  }

  private openArray(parent: Frame | undefined, role: number, key: number): void {
    if (parent === undefined || role === DEVICES || role === FIELD_LIST || role === SUBSECTIONS) throw GIVE_UP;
    if (key === 0 || key === K_PAGE_SIZE) {
      this.push(OTHER_ARRAY, 0);
    } else if (key === K_DEVICES) {
      this.push(DEVICES, 0);
    } else if (key === K_FIELDS) {
      // A device's fields are at depth 1, a struct's at its own, a `tmp` field's one deeper.
      const depth = role === DEVICE ? 1 : role === STRUCT ? parent.depth : parent.depth + 1;
      if (depth > MAX_VMDESC_DEPTH) throw GIVE_UP;
      this.push(FIELD_LIST, depth);
    } else if (key === K_SUBSECTIONS) {
      this.push(SUBSECTIONS, role === DEVICE ? 1 : parent.depth);
    } else {
      throw GIVE_UP;
    }
  }

  /** A string value; `s, e` its token (quotes included). */
  private scalarString(parent: Frame | undefined, role: number, key: number, s: number, e: number): void {
    if (parent === undefined || role === DEVICES || role === FIELD_LIST || role === SUBSECTIONS) throw GIVE_UP;
    if (key === 0 || key === K_NAME || key === K_VMSD_NAME) {
      if (role === DEVICE && key === K_NAME) {
        const cols = this.columns;
        cols.nameStarts[parent.entry] = s;
        cols.nameEnds[parent.entry] = e;
        cols.plainNames[parent.entry] = this.escaped || this.nonAscii ? 0 : 1;
      }
      return;
    }
    if (key === K_TYPE) {
      if (this.escaped) throw GIVE_UP; // might spell `struct`
      parent.typeIsStruct = same(this.buf, s + 1, e - 1, STRUCT_WORD);
      return;
    }
    if (key === K_PAGE_SIZE) return; // not a number: 4096
    throw GIVE_UP;
  }

  private scalarNumber(parent: Frame | undefined, role: number, key: number, s: number, e: number): void {
    if (parent === undefined || role === DEVICES || role === FIELD_LIST || role === SUBSECTIONS) throw GIVE_UP;
    switch (key) {
      case 0:
        return;
      case K_PAGE_SIZE:
        this.pageSize = this.numberValue(s, e);
        return;
      case K_INSTANCE_ID: {
        this.columns.instanceIds[parent.entry] = this.numberValue(s, e);
        // The entry's rest can stand for it when `name` and `instance_id` come first.
        if (parent.members === 2 && (parent.seen & K_NAME) !== 0) {
          this.columns.templates[parent.entry] = parent.entry;
          this.restStart = this.restAt = e;
          this.numberStart = s;
        }
        return;
      }
      case K_SIZE: {
        const v = this.numberValue(s, e);
        if (!(Number.isInteger(v) && v >= 0 && v <= MAX_VMDESC_SIZE)) throw GIVE_UP;
        return;
      }
      case K_ARRAY_LEN: {
        const v = this.numberValue(s, e);
        if (!(Number.isInteger(v) && v >= 0 && v <= MAX_VMDESC_COUNT)) throw GIVE_UP;
        parent.arrayLen = v;
        return;
      }
      default:
        throw GIVE_UP;
    }
  }

  /** `true`, `false` or `null`: only where the checker reads nothing (or `page_size`). */
  private scalarOther(role: number, key: number): void {
    if (role < 0 || role === DEVICES || role === FIELD_LIST || role === SUBSECTIONS) throw GIVE_UP;
    if (key !== 0 && key !== K_PAGE_SIZE) throw GIVE_UP;
  }

  /** Closes the container on top (`p` is after its closing byte): checks it, adds its values to its parent's. */
  private close(p: number): number {
    const f = this.frames[this.top--] as Frame;
    const parent = this.top >= 0 ? (this.frames[this.top] as Frame) : undefined;
    switch (f.role) {
      case DOC:
        if ((f.seen & K_DEVICES) === 0) throw GIVE_UP;
        break;
      case DEVICE: {
        if ((f.seen & (K_NAME | K_INSTANCE_ID)) !== (K_NAME | K_INSTANCE_ID)) throw GIVE_UP;
        this.count(1 + f.values);
        const cols = this.columns;
        cols.ends[f.entry] = p;
        if (cols.templates[f.entry] === f.entry) {
          // Its rest was checked token by token: the next entries' rests are compared with it.
          this.template = f.entry;
          this.templateStart = this.restStart;
          this.templateEnd = p;
          this.templateValues = 1 + f.values;
          this.headStart = cols.starts[f.entry] as number;
          this.headEnd = (cols.nameStarts[f.entry] as number) + 1;
          this.middleStart = (cols.nameEnds[f.entry] as number) - 1;
          this.middleEnd = this.numberStart;
        }
        break;
      }
      case FIELD: {
        if ((f.seen & (K_NAME | K_TYPE | K_SIZE)) !== (K_NAME | K_TYPE | K_SIZE)) throw GIVE_UP;
        if (f.typeIsStruct && (f.seen & K_STRUCT) === 0) throw GIVE_UP;
        const count = (1 + f.values) * (f.arrayLen >= 0 ? f.arrayLen : 1);
        if (count > MAX_VMDESC_VALUES) throw GIVE_UP;
        (parent as Frame).values += count;
        break;
      }
      case STRUCT: {
        if ((f.seen & (K_VMSD_NAME | K_FIELDS)) !== (K_VMSD_NAME | K_FIELDS)) throw GIVE_UP;
        const p2 = parent as Frame;
        if (p2.role === SUBSECTIONS) p2.values += 1 + f.values;
        else if (p2.role === DOC) this.count(f.values);
        else p2.values += f.values;
        break;
      }
      case FIELD_LIST:
      case SUBSECTIONS:
        (parent as Frame).values += f.values;
        break;
      default:
        break;
    }
    return p;
  }

  /** Adds a top-level entry's values to the document's, giving up beyond the budget. */
  private count(values: number): void {
    this.total += values;
    if (this.total > MAX_VMDESC_VALUES) throw GIVE_UP;
  }
}

/**
 * Checks the VMDESCRIPTION JSON in `buf[start, end)` over its bytes. Returns where its
 * device entries are when `parseVmDescription` would accept the text (decoded as UTF-8),
 * undefined when it would refuse it or the scan cannot tell (then parse it whole).
 */
export function scanVmdesc(buf: Buffer, start: number, end: number): VmdescTable | undefined {
  if (end - start >= 2 ** 31 || end > buf.length || start > end) return undefined;
  const scanner = new Scanner(buf.subarray(start, end));
  try {
    scanner.run();
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
  return scanner.table();
}
