/**
 * Streams for the incoming interop tests, written with `@savevm/stream`'s writer, plus the
 * byte surgery that turns a good stream into each bad kind.
 */
import {
  MemoryWriteChannel,
  QemuFileWriter,
  writeConfiguration,
  writeEof,
  writeHeader,
  writeSectionFooter,
  writeSectionFull,
  writeVmdesc,
  type VmDescription,
  type VmdescDevice,
} from '@savevm/stream';

/** Writes with a fresh in-memory QemuFileWriter and returns the bytes. */
export async function writeToBytes(write: (f: QemuFileWriter) => void): Promise<Buffer> {
  const channel = new MemoryWriteChannel();
  const f = new QemuFileWriter(channel);
  write(f);
  await f.flush();
  return channel.bytes();
}

/** The `timer` device (QEMU 7.2: id 0, version 2, 24-byte body) as in the vectors. */
export const TIMER = { sectionId: 0, idstr: 'timer', instanceId: 0, versionId: 2 } as const;
/** Size of the timer body: be64 cpu_ticks_offset, 8 unused bytes, be64 cpu_clock_offset. */
export const TIMER_BODY_SIZE = 24;
/** The `globalstate` device (id 4, version 1): be32 size + 100-byte run state buffer. */
export const GLOBALSTATE = { sectionId: 4, idstr: 'globalstate', instanceId: 0, versionId: 1 } as const;
/** Size of the globalstate body. */
export const GLOBALSTATE_BODY_SIZE = 104;
/** FULL body sizes of the devices these builders write (for walking streams with no vmdesc). */
export const KNOWN_BODY_SIZES: ReadonlyMap<string, number> = new Map([
  [TIMER.idstr, TIMER_BODY_SIZE],
  [GLOBALSTATE.idstr, GLOBALSTATE_BODY_SIZE],
]);

/** vmdesc entry of the timer, as QEMU 7.2 writes it. */
export const TIMER_VMDESC: VmdescDevice = {
  name: 'timer',
  instance_id: 0,
  vmsd_name: 'timer',
  version: 2,
  fields: [
    { name: 'cpu_ticks_offset', type: 'int64', size: 8 },
    { name: 'unused', type: 'unused_buffer', size: 8 },
    { name: 'cpu_clock_offset', type: 'int64', size: 8 },
  ],
};

/** vmdesc entry of globalstate, as QEMU 7.2 writes it. */
export const GLOBALSTATE_VMDESC: VmdescDevice = {
  name: 'globalstate',
  instance_id: 0,
  vmsd_name: 'globalstate',
  version: 1,
  fields: [
    { name: 'size', type: 'uint32', size: 4 },
    { name: 'runstate', type: 'buffer', size: 100 },
  ],
};

/** Header + configuration + EOF, and a vmdesc listing `devices` unless it is undefined. */
export async function minimalStream(machine: string, devices?: VmdescDevice[]): Promise<Buffer> {
  return writeToBytes((f) => {
    writeHeader(f);
    writeConfiguration(f, machine);
    writeEof(f);
    if (devices) writeVmdesc(f, { page_size: 4096, devices });
  });
}

/** Header + configuration "none" + FULL globalstate carrying `runstate` + EOF + vmdesc. */
export async function globalstateStream(runstate: string): Promise<Buffer> {
  const name = Buffer.from(`${runstate}\0`, 'latin1');
  if (name.length > 100) throw new RangeError(`run state "${runstate}" does not fit in 100 bytes`);
  const buffer = Buffer.alloc(100);
  name.copy(buffer);
  const vmdesc: VmDescription = { page_size: 4096, devices: [GLOBALSTATE_VMDESC] };
  return writeToBytes((f) => {
    writeHeader(f);
    writeConfiguration(f, 'none');
    writeSectionFull(f, GLOBALSTATE);
    f.putBe32(name.length);
    f.putBuffer(buffer);
    writeSectionFooter(f, GLOBALSTATE.sectionId);
    writeEof(f);
    writeVmdesc(f, vmdesc);
  });
}

/** Where the parts of {@link timerStream} sit. */
export interface TimerStreamLayout {
  /** The stream: header, configuration "none", FULL timer, footer, EOF, vmdesc. */
  readonly bytes: Buffer;
  /** Offset of the be32 version. */
  readonly version: number;
  /** Offset of the configuration section. */
  readonly configuration: number;
  /** Offset of the FULL timer record. */
  readonly timer: number;
  /** Offset of the timer body. */
  readonly timerBody: number;
  /** Offset of the timer's footer. */
  readonly timerFooter: number;
  /** Offset of the EOF byte. */
  readonly eof: number;
}

/** A valid stream QEMU `-machine none` accepts, with the offsets byte surgery needs. */
export async function timerStream(): Promise<TimerStreamLayout> {
  const at: Record<string, number> = {};
  const bytes = await writeToBytes((f) => {
    writeHeader(f);
    at.configuration = f.bytesWritten;
    writeConfiguration(f, 'none');
    at.timer = f.bytesWritten;
    writeSectionFull(f, TIMER);
    at.timerBody = f.bytesWritten;
    f.putBe64(0x1234n);
    f.putBuffer(new Uint8Array(8));
    f.putBe64(0x5678n);
    at.timerFooter = f.bytesWritten;
    writeSectionFooter(f, TIMER.sectionId);
    at.eof = f.bytesWritten;
    writeEof(f);
    writeVmdesc(f, { page_size: 4096, devices: [TIMER_VMDESC] });
  });
  const get = (k: string): number => {
    const v = at[k];
    if (v === undefined) throw new Error(`layout: ${k} not recorded`);
    return v;
  };
  return {
    bytes,
    version: 4,
    configuration: get('configuration'),
    timer: get('timer'),
    timerBody: get('timerBody'),
    timerFooter: get('timerFooter'),
    eof: get('eof'),
  };
}

/** A copy of `bytes` with `replacement` written over it at `offset`. */
export function overwrite(bytes: Uint8Array, offset: number, replacement: Uint8Array): Buffer {
  if (offset + replacement.length > bytes.length) throw new RangeError('overwrite past the end');
  const out = Buffer.from(bytes);
  out.set(replacement, offset);
  return out;
}

/** A copy of `bytes` with `[start, end)` removed. */
export function removeRange(bytes: Uint8Array, start: number, end: number): Buffer {
  return Buffer.concat([bytes.subarray(0, start), bytes.subarray(end)]);
}

/** A copy of `bytes` with `insertion` inserted at `offset`. */
export function insertAt(bytes: Uint8Array, offset: number, insertion: Uint8Array): Buffer {
  return Buffer.concat([bytes.subarray(0, offset), insertion, bytes.subarray(offset)]);
}

/** The first `length` bytes of `bytes`. */
export function truncate(bytes: Uint8Array, length: number): Buffer {
  return Buffer.from(bytes.subarray(0, length));
}

/** A big-endian 32-bit value as 4 bytes. */
export function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}
