import { describe, expect, it } from 'vitest';
import {
  RamFlag,
  StreamError,
  writeConfiguration,
  writeEof,
  writeHeader,
  writeSectionEnd,
  writeSectionFooter,
  writeSectionFull,
  writeSectionPart,
  writeSectionStart,
  writeVmdesc,
  type QemuFileWriter,
  type VmdescDevice,
  type VmdescField,
} from '@savevm/stream';
import { VfioTag } from '@savevm/vfio';
import { findTrailingVmdesc, inspectRecords, inspectStream, type InspectedRecord } from '../src/index.js';
import { ALL_VECTORS, vectorBytes } from './fixtures/vectors.js';
import { bytesOf } from './helpers.js';

const TIMER_DESC = {
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

async function timerStream(footerId: number | null, afterFooter: number[] = []): Promise<Buffer> {
  return bytesOf((f: QemuFileWriter) => {
    writeHeader(f);
    writeConfiguration(f, 'none');
    writeSectionFull(f, { sectionId: 0, idstr: 'timer', instanceId: 0, versionId: 2 });
    f.putBe64(-5n);
    f.putBuffer(Buffer.alloc(8));
    f.putBe64(7n);
    if (footerId !== null) writeSectionFooter(f, footerId);
    for (const b of afterFooter) f.putU8(b);
    writeEof(f);
    writeVmdesc(f, { page_size: 4096, devices: [TIMER_DESC] });
  });
}

async function codeOf(bytes: Buffer): Promise<{ code: string; offset: number }> {
  const err = await inspectStream(bytes).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StreamError);
  return { code: (err as StreamError).code, offset: (err as StreamError).offset };
}

describe('inspectStream', () => {
  it('decodes signed fields from the vmdesc', async () => {
    const { records } = await inspectStream(await timerStream(0));
    const timer = records.find((r) => r.record.type === 'full');
    expect(timer?.decoding).toBe('vmdesc');
    expect(timer?.fields?.fields.map((f) => f.value)).toEqual([-5n, '0000000000000000', 7n]);
  });

  it('names each of many devices worded the same by its own idstr, in both the flat and the generator decoding', async () => {
    const entry = (name: string, fields: VmdescField[]): VmdescDevice => ({ name, instance_id: 0, fields });
    const flat: VmdescField[] = [{ name: 'data', type: 'buffer', size: 2 }];
    const nested: VmdescField[] = [{ name: 'count', type: 'uint8', size: 1, array_len: 2 }];
    const bytes = await bytesOf((f: QemuFileWriter) => {
      writeHeader(f);
      writeConfiguration(f, 'none');
      ['a0', 'a1', 'a2', 'b0', 'b1'].forEach((idstr, sectionId) => {
        writeSectionFull(f, { sectionId, idstr, instanceId: 0, versionId: 1 });
        f.putBuffer(Buffer.from([sectionId, 0xee]));
        writeSectionFooter(f, sectionId);
      });
      writeEof(f);
      writeVmdesc(f, { page_size: 4096, devices: [entry('a0', flat), entry('a1', flat), entry('a2', flat), entry('b0', nested), entry('b1', nested)] });
    });
    for (const whole of [false, true]) {
      const records: InspectedRecord[] = [];
      if (whole) records.push(...(await inspectStream(bytes)).records);
      else await inspectRecords(bytes, (r) => records.push(r));
      const full = records.filter((r) => r.record.type === 'full');
      expect(full.map((r) => r.fields?.vmsdName)).toEqual(['a0', 'a1', 'a2', 'b0', 'b1']);
      expect(full.map((r) => r.fields?.fields[0]?.value)).toEqual(['00ee', '01ee', '02ee', [3, 238], [4, 238]]);
    }
  });

  it('reports a missing footer, a wrong footer id and an unknown record after a decoded body precisely', async () => {
    expect(await codeOf(await timerStream(null))).toEqual({ code: 'MISSING_FOOTER', offset: 60 });
    expect(await codeOf(await timerStream(5))).toEqual({ code: 'FOOTER_MISMATCH', offset: 60 });
    expect(await codeOf(await timerStream(0, [0x09]))).toEqual({ code: 'UNKNOWN_RECORD', offset: 65 });
  });

  it('delimits VFIO sections by their tags, and unknown live sections by their footer', async () => {
    const bytes = await bytesOf((f) => {
      writeHeader(f);
      writeConfiguration(f, 'pc');
      writeSectionStart(f, { sectionId: 3, idstr: '0000:00:03.0/vfio', instanceId: 0, versionId: 1 });
      f.putBe64(VfioTag.DEV_SETUP_STATE);
      f.putBe64(VfioTag.END_OF_STATE);
      writeSectionFooter(f, 3);
      writeSectionStart(f, { sectionId: 4, idstr: 'mystery', instanceId: 0, versionId: 1 });
      f.putBuffer(Buffer.from([0x7e, 0, 0, 0, 9, 0x7e])); // a decoy footer for another id
      writeSectionFooter(f, 4);
      writeSectionEnd(f, 3);
      f.putBe64(VfioTag.DEV_DATA_STATE);
      f.putBe64Number(3);
      f.putBuffer(Buffer.from([0x7e, 0, 0]));
      f.putBe64(VfioTag.END_OF_STATE);
      writeSectionFooter(f, 3);
      writeEof(f);
    });
    const { records, warnings } = await inspectStream(bytes);
    expect(warnings).toEqual(['Expected vmdescription section, but got 0']);
    const sections = records.filter((r) => 'bodyOffset' in r.record);
    expect(sections.map((s) => [s.record.type, s.decoding, s.bodySize])).toEqual([
      ['start', 'vfio', 16],
      ['start', 'footer-scan', 6],
      ['end', 'vfio', 27],
    ]);
    expect(sections[2]?.vfio?.tags).toEqual(['DATA_STATE(3)', 'END_OF_STATE']);
  });

  it('lists the CONFIG_STATE of a FULL VFIO section up to the END_OF_STATE a footer follows (END_OF_STATE bytes inside the config are kept in it)', async () => {
    const config = Buffer.alloc(4116, 0);
    config.writeBigUInt64BE(VfioTag.END_OF_STATE, 100);
    const bytes = await bytesOf((f) => {
      writeHeader(f);
      writeConfiguration(f, 'pc');
      writeSectionFull(f, { sectionId: 38, idstr: '0000:00:02.0/vfio', instanceId: 0, versionId: 1 });
      f.putBe64(VfioTag.DEV_CONFIG_STATE);
      f.putBuffer(config);
      f.putBe64(VfioTag.END_OF_STATE);
      writeSectionFooter(f, 38);
      writeEof(f);
    });
    const { records } = await inspectStream(bytes);
    const full = records.find((r) => r.record.type === 'full');
    expect([full?.decoding, full?.bodySize, full?.vfio?.tags, full?.vfio?.configBytes]).toEqual(['vfio', 4132, ['CONFIG_STATE(4116)', 'END_OF_STATE'], 4116]);
  });

  it('decodes a ram section that starts with CONTINUE from the block the previous ram section named (QEMU keeps it)', async () => {
    const ramStream = (pageInStart: boolean): Promise<Buffer> =>
      bytesOf((f) => {
        writeHeader(f);
        writeConfiguration(f, 'pc');
        writeSectionStart(f, { sectionId: 2, idstr: 'ram', instanceId: 0, versionId: 4 });
        f.putBe64(8192n | BigInt(RamFlag.MEM_SIZE));
        f.putCountedString('pc.ram');
        f.putBe64(8192n);
        if (pageInStart) {
          f.putBe64(0n | BigInt(RamFlag.PAGE));
          f.putCountedString('pc.ram');
          f.putBuffer(Buffer.alloc(4096, 0x11));
        }
        f.putBe64(BigInt(RamFlag.EOS));
        writeSectionFooter(f, 2);
        writeSectionPart(f, 2);
        f.putBe64(4096n | BigInt(RamFlag.ZERO | RamFlag.CONTINUE));
        f.putU8(0);
        f.putBe64(BigInt(RamFlag.EOS));
        writeSectionFooter(f, 2);
        writeSectionEnd(f, 2);
        f.putBe64(BigInt(RamFlag.EOS));
        writeSectionFooter(f, 2);
        writeEof(f);
      });
    const continued = (await inspectStream(await ramStream(true))).records.filter((r) => 'bodyOffset' in r.record);
    expect(continued.map((r) => [r.record.type, r.decoding, r.ram?.lastBlock])).toEqual([
      ['start', 'ram', 'pc.ram'],
      ['part', 'ram', 'pc.ram'],
      ['end', 'ram', 'pc.ram'],
    ]);
    expect(continued[1]?.ram?.zeroPages).toBe(1);
    // No page named a block before: the CONTINUE cannot be decoded, the footer delimits the body.
    const orphan = (await inspectStream(await ramStream(false))).records.filter((r) => 'bodyOffset' in r.record);
    expect(orphan.map((r) => [r.record.type, r.decoding])).toEqual([
      ['start', 'ram'],
      ['part', 'footer-scan'],
      ['end', 'ram'],
    ]);
  });

  it('finds the trailing vmdesc only when its length matches the end of the bytes', async () => {
    const good = await timerStream(0);
    expect(findTrailingVmdesc(good)?.devices[0]?.name).toBe('timer');
    expect(findTrailingVmdesc(good.subarray(0, good.length - 1))).toBeUndefined();
  });

  it('is inspectRecords with the records collected: the same records, vmdesc and warnings for every QEMU vector', async () => {
    for (const [version, name] of ALL_VECTORS) {
      const bytes = vectorBytes(name, version);
      const collected = await inspectStream(bytes);
      const handed: InspectedRecord[] = [];
      const streamed = await inspectRecords(bytes, (item) => void handed.push(item));
      expect(handed, `${version}/${name}`).toEqual(collected.records);
      expect(streamed.vmdesc()).toEqual(collected.vmdesc);
      expect(streamed.warnings).toEqual(collected.warnings);
      // The vmdesc record's text is read from the bytes when asked for.
      const vmdesc = handed.at(-1)?.record;
      expect(vmdesc?.type === 'vmdesc' && JSON.parse(vmdesc.json)).toEqual(collected.vmdesc && JSON.parse(JSON.stringify(collected.vmdesc)));
    }
  });

  it('hands the records before an invalid one over, then throws', async () => {
    const handed: string[] = [];
    const err = await inspectRecords(await timerStream(5), (item) => void handed.push(item.record.type)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StreamError);
    expect(handed).toEqual(['header', 'configuration', 'full']);
  });
});
