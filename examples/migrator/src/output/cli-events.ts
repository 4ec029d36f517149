/**
 * Where a command's messages go: on a terminal, sentences; otherwise (or with `--json`),
 * one JSON object per line on stdout. Errors are always one line on stderr as well. Every
 * message may carry wire strings (an idstr, a peer's certificate name): nothing leaves here
 * with a raw control character (`docs/design/hostile-input.md`, "Printing wire strings").
 */
import { escapeWireString, stringifyForTerminal } from '@savevm/stream';
import type { CliOutput } from '../cli-output.js';

/** Multi-line text with every line's control characters escaped (its line breaks kept). */
export function escapeLines(text: string): string {
  return text.split('\n').map(escapeWireString).join('\n');
}

/** A command's output channel. */
export class CliEvents {
  /**
   * @param out where to write
   * @param command `migrate` or `incoming`, to prefix error lines
   * @param mode `json` forces JSON lines even on a terminal; `auto` draws on a terminal and
   *   writes JSON lines otherwise; `text` writes sentences and no progress when there is no
   *   terminal (the demo)
   */
  constructor(
    private readonly out: CliOutput,
    private readonly command: string,
    mode: 'json' | 'auto' | 'text',
  ) {
    this.terminal = mode === 'json' ? undefined : out.terminal;
    this.isJson = mode === 'json' || (mode === 'auto' && out.terminal === undefined);
  }

  /** The terminal for the progress bar; undefined when there is none or in JSON mode. */
  readonly terminal: NodeJS.WritableStream | undefined;

  /** Whether messages are JSON lines. */
  readonly isJson: boolean;

  /** Writes one JSON line (JSON mode only). */
  json(record: Record<string, unknown>): void {
    if (this.isJson) this.out.stdout(`${stringifyForTerminal(record)}\n`);
  }

  /** A notice: the sentence on a terminal, the record as a JSON line otherwise. */
  notice(text: string, record: Record<string, unknown>): void {
    if (this.isJson) this.json(record);
    else this.out.stdout(`${escapeWireString(text)}\n`);
  }

  /** A warning: one line on stderr (and a JSON line in JSON mode). */
  warn(text: string): void {
    this.out.stderr(`savevm ${this.command}: warning: ${escapeWireString(text)}\n`);
    this.json({ event: 'warning', message: text });
  }

  /** The failure: one line on stderr (and a JSON line with the details in JSON mode). */
  error(text: string, details: Record<string, unknown> = {}): void {
    this.out.stderr(`savevm ${this.command}: ${escapeWireString(text)}\n`);
    this.json({ event: 'error', message: text, ...details });
  }

  /** Plain text on stdout (terminal mode only). */
  text(text: string): void {
    if (!this.isJson) this.out.stdout(escapeLines(text));
  }
}
