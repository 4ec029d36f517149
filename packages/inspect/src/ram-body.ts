import { RamFlag, StreamFormatError, type QemuFileReader } from '@savevm/stream';

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

/**
 * Decodes a `ram` section body up to and including its EOS record.
 * @param pageSize the target page size (flags live in the bits below it)
 * @param lastBlock the block the previous `ram` section's last page named: QEMU keeps it
 *   from one section to the next, so a section may start with a CONTINUE page
 */
export async function decodeRamBody(r: QemuFileReader, pageSize = 4096, lastBlock?: string): Promise<RamBodySummary> {
  const flagMask = BigInt(pageSize - 1);
  const summary: RamBodySummary = { blocks: [], totalBytes: undefined, zeroPages: 0, pages: 0, flagCounts: new Map(), lastBlock };
  for (;;) {
    const at = r.offset;
    const word = await r.getBe64('a ram record');
    const flags = Number(word & flagMask);
    const addr = word & ~flagMask;
    summary.flagCounts.set(flags, (summary.flagCounts.get(flags) ?? 0) + 1);
    const kind = flags & ~RamFlag.CONTINUE;
    const readBlockName = async (): Promise<void> => {
      if (flags & RamFlag.CONTINUE) {
        if (summary.lastBlock === undefined) throw new StreamFormatError('BAD_BODY', at, 'ram: CONTINUE without a previous block');
        return;
      }
      summary.lastBlock = await r.getCountedString('a ram block name');
    };
    switch (kind) {
      case RamFlag.MEM_SIZE: {
        (summary as { totalBytes: bigint | undefined }).totalBytes = addr;
        let remaining = addr;
        while (remaining > 0n) {
          const idstr = await r.getCountedString('a ram block name');
          const usedLength = await r.getBe64('a ram block length');
          if (usedLength > remaining) throw new StreamFormatError('BAD_BODY', at, `ram: block ${idstr} is larger than the announced total`);
          summary.blocks.push({ idstr, usedLength });
          remaining -= usedLength;
        }
        break;
      }
      case RamFlag.ZERO:
        await readBlockName();
        await r.getU8('a zero-page fill byte');
        summary.zeroPages++;
        break;
      case RamFlag.PAGE:
        await readBlockName();
        await r.skip(pageSize, 'a ram page');
        summary.pages++;
        break;
      case RamFlag.XBZRLE: {
        await readBlockName();
        await r.getU8('an XBZRLE encoding byte');
        const len = await r.getBe16('an XBZRLE length');
        await r.skip(len, 'an XBZRLE page');
        break;
      }
      case RamFlag.COMPRESS_PAGE: {
        await readBlockName();
        const len = await r.getBe32('a compressed page length');
        if (len > pageSize * 2) throw new StreamFormatError('BAD_BODY', at, `ram: compressed page of ${len} bytes`);
        await r.skip(len, 'a compressed page');
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
