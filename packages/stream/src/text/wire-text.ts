/**
 * Strings that come from the wire (idstrs, the machine name, subsection and capability
 * names, RAM block names, anything a peer or a file chose) made safe to print: no control
 * character, no bidirectional override, no line separator reaches a terminal or a log
 * as itself (see `docs/design/hostile-input.md`, "Printing wire strings").
 */

/**
 * What is escaped: C0 controls, DEL, C1 controls, the Unicode line and paragraph
 * separators, the bidirectional marks, embeddings, overrides and isolates, and the
 * byte-order mark. A backslash is not: escaping is idempotent, so a message that carries an
 * escaped string can be escaped again where it is printed without changing.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;
const UNSAFE_ONE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;

/** What JSON.stringify leaves raw and a terminal may still act on. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/**
 * A wire string as it may be printed: every control character, line separator and
 * bidirectional control written as an escape (`\x1b`, `\n`, `\u{202e}`); any other
 * character as itself. A string with none of them is returned as is (no copy). Escaping
 * twice gives the same text as escaping once.
 * @param text the string as decoded from the wire
 */
export function escapeWireString(text: string): string {
  return UNSAFE_ONE.test(text) ? text.replace(UNSAFE, escapeOne) : text;
}

/**
 * JSON text safe for a terminal: what `JSON.stringify` leaves raw (DEL, C1 controls, line
 * separators, bidirectional controls) written as `\uXXXX` escapes. The JSON still parses to
 * the same value.
 * @param json text `JSON.stringify` produced
 */
export function escapeJsonText(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `JSON.stringify(value)`, safe for a terminal (see {@link escapeJsonText}). */
export function stringifyForTerminal(value: unknown): string {
  return escapeJsonText(JSON.stringify(value) ?? 'null');
}

/** Whether a text holds a character {@link escapeWireString} would escape, other than a line feed or a tab (for checks of printed output). */
export function hasRawControlCharacters(text: string): boolean {
  return /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/.test(text);
}
