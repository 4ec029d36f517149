/**
 * The opaque config-state hook: QEMU's PCI config vmstate carried through savevm as bytes it does
 * not interpret (docs/design/qemu-versions.md, "A VFIO device between QEMU 10.0 and savevm").
 */
import { describe, expect, it } from 'vitest';
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { VfioTag } from '@savevm/vfio';
import { OpaqueConfigState, OpaqueConfigStateError } from '../src/index.js';
import { bodyShape, vfioSections } from './helpers/stream-layout.js';
import { STOP_COPY_P2P, loadFromMemory, makePair, saveToMemory } from './helpers/vm.js';

/** A config blob shaped like QEMU's (4116 bytes), holding END_OF_STATE's bytes without a footer after them. */
function qemuLikeBlob(): Buffer {
  const blob = Buffer.alloc(4116, 0);
  blob.write('vfio-pci-config', 4, 'latin1');
  blob.writeBigUInt64BE(VfioTag.END_OF_STATE, 1000);
  blob[1008] = 0x01;
  return blob;
}

/** The reader positioned on a body: blob, END_OF_STATE, footer (0x7e, section id 9), EOF. */
function readerOver(blob: Buffer, tail = true): QemuFileReader {
  const end = Buffer.alloc(8);
  end.writeBigUInt64BE(VfioTag.END_OF_STATE);
  const rest = tail ? Buffer.concat([end, Buffer.from([0x7e, 0, 0, 0, 9, 0])]) : Buffer.alloc(0);
  return new QemuFileReader(new MemoryReadChannel(Buffer.concat([blob, rest])));
}

describe('OpaqueConfigState', () => {
  it('loads up to the END_OF_STATE that a footer follows (an END_OF_STATE inside the blob is kept), saves the same bytes', async () => {
    const blob = qemuLikeBlob();
    const hook = new OpaqueConfigState();
    const r = readerOver(blob);
    await hook.load(r);
    expect(Buffer.from(hook.bytes!).equals(blob)).toBe(true);
    expect(await r.getBe64()).toBe(VfioTag.END_OF_STATE);
    const channel = new MemoryWriteChannel();
    const w = new QemuFileWriter(channel);
    hook.save(w);
    await w.flush();
    expect(channel.bytes().equals(blob)).toBe(true);
  });

  it('with a fixed length: reads exactly that many bytes; a length that does not end at END_OF_STATE is LENGTH_MISMATCH', async () => {
    const blob = qemuLikeBlob();
    const fixed = new OpaqueConfigState({ length: blob.length });
    await fixed.load(readerOver(blob));
    expect(Buffer.from(fixed.bytes!).equals(blob)).toBe(true);
    const wrong = new OpaqueConfigState({ length: 100 });
    await expect(wrong.load(readerOver(blob))).rejects.toMatchObject({ name: 'OpaqueConfigStateError', reason: 'LENGTH_MISMATCH' });
  });

  it('refuses a stream without the end (NO_END), a blob over maxLength (NO_END), and save with no blob (NO_BLOB)', async () => {
    await expect(new OpaqueConfigState().load(readerOver(Buffer.alloc(64, 1), false))).rejects.toMatchObject({ reason: 'NO_END' });
    await expect(new OpaqueConfigState({ maxLength: 1024 }).load(readerOver(qemuLikeBlob()))).rejects.toMatchObject({ reason: 'NO_END' });
    const w = new QemuFileWriter(new MemoryWriteChannel());
    expect(() => new OpaqueConfigState().save(w)).toThrow(OpaqueConfigStateError);
  });

  it('carries a config blob through a migration: the source writes the blob it was given, the destination keeps what came', async () => {
    const blob = qemuLikeBlob();
    const dstHook = new OpaqueConfigState();
    const { src, dst } = await makePair([{ flags: STOP_COPY_P2P }], { configState: new OpaqueConfigState({ bytes: blob }) }, { configState: dstHook });
    const { bytes } = await saveToMemory(src);
    const full = (await vfioSections(bytes, blob.length)).filter((s) => s.type === 'full');
    expect(full.map(bodyShape)).toEqual(['CONFIG END']);
    await loadFromMemory(dst, bytes);
    expect(Buffer.from(dstHook.bytes!).equals(blob)).toBe(true);
    src.close();
    dst.close();
  });
});
