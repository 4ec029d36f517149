import { RamFlag, StreamFormatError, type QemuFileReader } from '@savevm/stream';
import { decodeFromReader, type BodyDecoder, type BodySource } from './body-source.js';

/** A RAM block announced by a MEM_SIZE record. */
export interface RamBlockInfo {
  /** Block id string, e.g. `pc.ram`. */
  readonly idstr: string;
  /** Used length in bytes. */
  readonly usedLength: bigint;
}

/** What one `ram` section body held. */
export interface RamBodySummary {
  /** Blocks announced by MEM_SIZE (START sections). */
  readonly blocks: RamBlockInfo[];
  /** Total RAM announced by MEM_SIZE, if any. */
  readonly totalBytes: bigint | undefined;
  /** ZERO records. */
  zeroPages: number;
  /** PAGE records. */
  pages: number;
  /** Distinct flag combinations seen, with their counts. */
  readonly flagCounts: Map<number, number>;
  /** The block the last page record named (a CONTINUE in the next `ram` section refers to it). */
  lastBlock: string | undefined;
}

/** A counted string the source is at: a u8 length and that many bytes. */
function* countedString(source: BodySource, what: string): BodyDecoder<string> {
  source.take(1, what);
  yield;
  const length = source.buf[source.at] as number;
  source.take(length, what);
  yield;
  return source.buf.toString('utf8', source.at, source.end);
}

/** A big-endian 64-bit value the source is at. */
function* be64(source: BodySource, what: string): BodyDecoder<bigint> {
  source.take(8, what);
  yield;
  return source.buf.readBigUInt64BE(source.at);
}

/** Decodes a `ram` section body up to and including its EOS record (the generator under {@link decodeRamBody}). */
export function* ramBodyDecoder(source: BodySource, pageSize = 4096, lastBlock?: string): BodyDecoder<RamBodySummary> {
  const flagMask = BigInt(pageSize - 1);
  const summary: RamBodySummary = { blocks: [], totalBytes: undefined, zeroPages: 0, pages: 0, flagCounts: new Map(), lastBlock };
  for (;;) {
    const at = source.offset;
    const word = yield* be64(source, 'a ram record');
    const flags = Number(word & flagMask);
    const addr = word & ~flagMask;
    summary.flagCounts.set(flags, (summary.flagCounts.get(flags) ?? 0) + 1);
    const kind = flags & ~RamFlag.CONTINUE;
    const readBlockName = function* (): BodyDecoder<void> {
      if (flags & RamFlag.CONTINUE) {
        if (summary.lastBlock === undefined) throw new StreamFormatError('BAD_BODY', at, 'ram: CONTINUE without a previous block');
        return;
      }
      summary.lastBlock = yield* countedString(source, 'a ram block name');
    };
    switch (kind) {
      case RamFlag.MEM_SIZE: {
        (summary as { totalBytes: bigint | undefined }).totalBytes = addr;
        let remaining = addr;
        while (remaining > 0n) {
          const idstr = yield* countedString(source, 'a ram block name');
          const usedLength = yield* be64(source, 'a ram block length');
          if (usedLength > remaining) throw new StreamFormatError('BAD_BODY', at, `ram: block ${idstr} is larger than the announced total`);
          summary.blocks.push({ idstr, usedLength });
          remaining -= usedLength;
        }
        break;
      }
      case RamFlag.ZERO:
        yield* readBlockName();
        source.take(1, 'a zero-page fill byte');
        yield;
        summary.zeroPages++;
        break;
      case RamFlag.PAGE:
        yield* readBlockName();
        source.skip(pageSize, 'a ram page');
        yield;
        summary.pages++;
        break;
      case RamFlag.XBZRLE: {
        yield* readBlockName();
        source.take(1, 'an XBZRLE encoding byte');
        yield;
        source.take(2, 'an XBZRLE length');
        yield;
        const len = source.buf.readUInt16BE(source.at);
        source.skip(len, 'an XBZRLE page');
        yield;
        break;
      }
      case RamFlag.COMPRESS_PAGE: {
        yield* readBlockName();
        source.take(4, 'a compressed page length');
        yield;
        const len = source.buf.readUInt32BE(source.at);
        if (len > pageSize * 2) throw new StreamFormatError('BAD_BODY', at, `ram: compressed page of ${len} bytes`);
        source.skip(len, 'a compressed page');
        yield;
        break;
      }
      case RamFlag.MULTIFD_FLUSH:
        break;
      case RamFlag.EOS:
        return summary;
      default:
        throw new StreamFormatError('BAD_BODY', at, `ram: unknown record flags 0x${flags.toString(16)}`);
    }
  }
}

/**
 * Decodes a `ram` section body up to and including its EOS record.
 * @param pageSize the target page size (flags live in the bits below it)
 * @param lastBlock the block the previous `ram` section's last page named: QEMU keeps it
 *   from one section to the next, so a section may start with a CONTINUE page
 */
export function decodeRamBody(r: QemuFileReader, pageSize = 4096, lastBlock?: string): Promise<RamBodySummary> {
  return decodeFromReader(r, (source) => ramBodyDecoder(source, pageSize, lastBlock));
}
