// migration.mjs — guest helpers that move a device's migration stream through the
// @savevm/vfio data-file interface only (no handlers): read a saving file to its end (or to the
// pre-copy "nothing for now"), and describe mtty's stream (Linux 6.12 samples/vfio-mdev/mtty.c:
// 24-byte header — magic u64 0x7e9d09898c3e2c4e, major u32 1, minor u32 0, nr_ports u32,
// flags u32 0 — then nr_ports × 36-byte struct serial_port).
export const MTTY_MAGIC = 0x7e9d09898c3e2c4en;
export const MTTY_HEADER_SIZE = 24;
export const MTTY_PORT_SIZE = 36;

/**
 * Reads `file` until it reports `end` (or, with `untilNoData`, `no-data-yet`), in `chunk`-byte
 * reads. Returns { bytes: Buffer, reads, last } where last is the final read's kind.
 */
export async function readStream(file, { chunk = 16, untilNoData = false } = {}) {
  const parts = [];
  const buf = new Uint8Array(chunk);
  let reads = 0;
  for (;;) {
    const r = await file.read(buf);
    reads++;
    if (r.kind === 'data') {
      parts.push(Buffer.from(buf.subarray(0, r.bytes)));
      continue;
    }
    if (r.kind === 'end' || (untilNoData && r.kind === 'no-data-yet')) {
      return { bytes: Buffer.concat(parts), reads, last: r.kind };
    }
    throw new Error(`unexpected read result ${r.kind} after ${Buffer.concat(parts).length} bytes`);
  }
}

/** Decodes mtty's stream header. */
export function parseMttyHeader(bytes) {
  const b = Buffer.from(bytes);
  if (b.length < MTTY_HEADER_SIZE) throw new Error(`mtty stream shorter than its header: ${b.length} bytes`);
  return {
    magic: b.readBigUInt64LE(0),
    major: b.readUInt32LE(8),
    minor: b.readUInt32LE(12),
    nrPorts: b.readUInt32LE(16),
    flags: b.readUInt32LE(20),
  };
}
