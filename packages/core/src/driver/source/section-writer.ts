/**
 * The one way the source writes a section (QEMU `save_section_header` … `save_section_footer`,
 * see `docs/design/handler-lifecycle.md` §2): the entry's header, its hook writing the body,
 * the footer; then the entry's bytes are counted, a stream error is checked and the section
 * is traced. Each kind of section has its one hook and the phase its failure names.
 */
import type { QemuFileWriter } from '@savevm/stream';
import type { MigrationPhase } from '../../errors.js';
import { isPromiseLike } from '../../maybe-promise.js';
import type { SaveStateEntry } from '../../registry/save-state-entry.js';
import { isTracing, trace } from '../../tracing/trace-points.js';
import { callHook } from '../hooks.js';
import type { StatusPublisher } from '../status-publisher.js';
import { sectionHeadersOf } from './section-headers.js';

/** The kinds of section a source writes: SECTION_START, _PART, _END, _FULL. */
export type SectionKind = 'start' | 'part' | 'end' | 'full';

/** The hook that writes each kind of section's body, and the phase its failure names. */
const SECTION_HOOKS: Readonly<Record<SectionKind, { readonly hook: string; readonly phase: MigrationPhase }>> = {
  start: { hook: 'saveSetup', phase: 'save-setup' },
  part: { hook: 'saveLiveIterate', phase: 'iterate' },
  end: { hook: 'saveLiveCompletePrecopy', phase: 'complete-precopy' },
  full: { hook: 'saveState', phase: 'save-state' },
};

/** What a {@link SectionWriter} is made of. */
export interface SectionWriterOptions {
  /** The stream. */
  readonly f: QemuFileWriter;
  /** Where each entry's bytes are counted. */
  readonly status: StatusPublisher;
  /** Throws the run's failure for the stream's sticky error, naming the entry. */
  readonly failOnStreamError: (entry: SaveStateEntry) => void;
}

/** One section of one entry to write. */
export interface SectionToWrite<T> {
  /** Which section. */
  readonly kind: SectionKind;
  /** The entry's list position (for its byte count). */
  readonly index: number;
  /** The entry. */
  readonly entry: SaveStateEntry;
  /** Calls the entry's hook for this kind, which writes the body. */
  readonly body: () => T | PromiseLike<T>;
  /** Told the body's size once written (the vmdesc records it for a FULL section). */
  readonly bodyWritten?: ((bytes: number) => void) | undefined;
}

/** Writes the source's sections. */
export class SectionWriter {
  /** @param options the stream, the status publisher and the stream-error check */
  constructor(private readonly options: SectionWriterOptions) {}

  /**
   * Writes one section: header, body (the hook), footer. Returns the hook's value, or a
   * promise of it when the hook returned one (a synchronous hook costs no microtask).
   */
  write<T>(section: SectionToWrite<T>): T | Promise<T> {
    const { f } = this.options;
    const { kind, entry } = section;
    const before = f.bytesWritten;
    f.putBuffer(sectionHeadersOf(entry)[kind]);
    if (isTracing('savevm_section_start')) {
      trace('savevm_section_start', { idstr: entry.idstr, instanceId: entry.instanceId, sectionId: entry.sectionId, type: kind });
    }
    const bodyStart = f.bytesWritten;
    const { hook, phase } = SECTION_HOOKS[kind];
    const result = callHook(phase, hook, entry, section.body);
    if (isPromiseLike(result)) return result.then((value) => this.close(section, before, bodyStart, value));
    return this.close(section, before, bodyStart, result);
  }

  /** Traces a section not written (QEMU's per-entry filters, the rate limit). */
  skip(entry: SaveStateEntry, kind: SectionKind, reason: 'inactive' | 'rate-limited'): void {
    if (isTracing('savevm_section_skip')) {
      trace('savevm_section_skip', { idstr: entry.idstr, instanceId: entry.instanceId, sectionId: entry.sectionId, type: kind, reason });
    }
  }

  /** The footer after the body, then the entry's bytes, the stream check and the trace. */
  private close<T>(section: SectionToWrite<T>, before: number, bodyStart: number, value: T): T {
    const { f, status, failOnStreamError } = this.options;
    const { kind, index, entry } = section;
    section.bodyWritten?.(f.bytesWritten - bodyStart);
    f.putBuffer(sectionHeadersOf(entry).footer);
    const bytes = f.bytesWritten - before;
    status.addEntryBytes(index, bytes);
    if (f.error !== undefined) failOnStreamError(entry);
    if (isTracing('savevm_section_end')) {
      trace('savevm_section_end', { idstr: entry.idstr, instanceId: entry.instanceId, sectionId: entry.sectionId, type: kind, bytes });
    }
    return value;
  }
}
