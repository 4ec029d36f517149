/**
 * QEMU 7.2 and 10.0 as the source: `migrate` to `exec:cat > FILE` from `-machine none`,
 * `-machine pc -m 16` and `-machine q35 -m 16`; `@savevm/inspect` reads every record of the
 * result (bodies, footers, commands, EOF, vmdesc) and the record list has the shape each
 * version writes (docs/design/qemu-versions.md §1: 10.0's SWITCHOVER_START, section ids,
 * device order, the vmdesc's configuration).
 */
import { parseVmDescription } from '@savevm/stream';
import { expect, it } from 'vitest';
import { describeEachQemu, saveStream, type QemuVersion } from './qemu-harness.js';
import { inspectRecords, type WalkedRecord } from './stream-walk.js';

/** FULL sections of `-machine pc` (i440fx) in stream order: `idstr/instance`. */
const PC_FULL_SECTIONS_7_2 = [
  'timer/0', 'cpu_common/0', 'cpu/0', 'kvm-tpr-opt/0', 'apic/0', 'fw_cfg/0', 'PCIHost/0', 'PCIBUS/0',
  '0000:00:00.0/I440FX/0', 'dma/0', 'dma/1', '0000:00:01.0/PIIX3/0', 'i8259/0', 'i8259/1', 'ioapic/0',
  'hpet/0', 'mc146818rtc/0', 'i8254/0', 'pcspk/0', 'fdc/0', 'ps2kbd/0', 'ps2mouse/0', 'pckbd/0',
  'vmmouse/0', 'port92/0', '0000:00:01.1/ide/0', 'i2c_bus/0', '0000:00:01.3/piix4_pm/0', 'acpi_build/0',
  'globalstate/0',
];
const PC_FULL_SECTIONS: Readonly<Record<QemuVersion, readonly string[]>> = {
  '7.2': PC_FULL_SECTIONS_7_2,
  // 10.0 registers the same devices, in another order.
  '10.0': [
    'timer/0', 'cpu_common/0', 'cpu/0', 'kvm-tpr-opt/0', 'apic/0', '0000:00:00.0/I440FX/0', 'PCIHost/0', 'PCIBUS/0',
    'fw_cfg/0', 'dma/0', 'dma/1', 'mc146818rtc/0', '0000:00:01.1/ide/0', 'i2c_bus/0', '0000:00:01.3/piix4_pm/0',
    '0000:00:01.0/PIIX3/0', 'i8259/0', 'i8259/1', 'ioapic/0', 'hpet/0', 'i8254/0', 'pcspk/0', 'fdc/0', 'ps2kbd/0',
    'ps2mouse/0', 'pckbd/0', 'vmmouse/0', 'port92/0', 'acpi_build/0', 'globalstate/0',
  ],
};

const fullSections = (records: readonly WalkedRecord[]): string[] =>
  records.filter((r) => r.type === 'full').map((r) => `${r.idstr}/${r.instanceId}`);

/** The run state carried by the globalstate section: be32 size, then a NUL-terminated name. */
function globalRunState(bytes: Buffer, records: readonly WalkedRecord[]): string {
  const rec = records.find((r) => r.type === 'full' && r.idstr === 'globalstate');
  if (!rec?.idstr) throw new Error('no globalstate section');
  const body = rec.offset + 1 + 4 + 1 + rec.idstr.length + 4 + 4;
  const size = bytes.readUInt32BE(body);
  return bytes.subarray(body + 4, body + 4 + size).toString('latin1').replace(/\0$/, '');
}

/** Checks the frame every QEMU stream has, and returns the vmdesc device names. */
function expectWholeStream(bytes: Buffer, records: readonly WalkedRecord[], machine: string, vmdescConfiguration: boolean): string[] {
  expect(records[0]).toMatchObject({ type: 'header', offset: 0 });
  expect(records[1]).toMatchObject({ type: 'configuration', offset: 8, machine });
  const eof = records.at(-2);
  const vmdesc = records.at(-1);
  expect(eof?.type).toBe('eof');
  expect(vmdesc?.type).toBe('vmdesc');
  expect(vmdesc?.offset).toBe((eof?.offset ?? -1) + 1);
  // The vmdesc ends the stream exactly: nothing was left unread.
  expect((vmdesc?.offset ?? 0) + 5 + (vmdesc?.bodySize ?? 0)).toBe(bytes.length);
  // Every section body plus its footer fills the gap up to the next record.
  for (let i = 2; i < records.length - 2; i++) {
    const r = records[i];
    const next = records[i + 1];
    if (!r || !next || r.bodySize === undefined) throw new Error(`record ${i} has no body size`);
    if (r.type === 'command') {
      // 0x08, be16 command, be16 length, payload; no footer.
      expect(r.offset + 5 + r.bodySize).toBe(next.offset);
      continue;
    }
    const header = r.type === 'start' || r.type === 'full' ? 14 + Buffer.byteLength(r.idstr ?? '') : 5;
    expect(r.offset + header + r.bodySize + 5, `${r.type} ${r.idstr} at ${r.offset}`).toBe(next.offset);
    expect(bytes[next.offset - 5]).toBe(0x7e);
    expect(bytes.readUInt32BE(next.offset - 4)).toBe(r.sectionId);
    // Decoded as ram records or field by field from the vmdesc, not found by a footer scan.
    expect(r.decoding, `${r.type} ${r.idstr}`).toBe(r.idstr === 'ram' ? 'ram' : 'vmdesc');
  }
  const desc = parseVmDescription(vmdesc?.json ?? '');
  JSON.parse(vmdesc?.json ?? '');
  expect(desc.page_size).toBe(4096);
  expect(Object.keys(desc)).toEqual(vmdescConfiguration ? ['configuration', 'page_size', 'devices'] : ['page_size', 'devices']);
  if (vmdescConfiguration) expect(desc.configuration?.fields.at(-1)).toEqual({ name: 'name', type: 'buffer', size: machine.length });
  return desc.devices.map((d) => `${d.name}/${d.instance_id}`);
}

/**
 * The ram records: START first, then PARTs, then END, all with the same section id; with
 * `switchoverStart`, SWITCHOVER_START (the only command) right before the END.
 */
function expectRam(records: readonly WalkedRecord[], switchoverStart: boolean): void {
  const ram = records.filter((r) => r.idstr === 'ram');
  expect(ram[0]?.type).toBe('start');
  expect(ram.at(-1)?.type).toBe('end');
  expect(ram.slice(1, -1).every((r) => r.type === 'part')).toBe(true);
  expect(new Set(ram.map((r) => r.sectionId)).size).toBe(1);
  const lastRam = records.indexOf(ram.at(-1) as WalkedRecord);
  const firstFull = records.findIndex((r) => r.type === 'full');
  expect(lastRam).toBeLessThan(firstFull);
  expect(records.filter((r) => r.type === 'start' || r.type === 'part' || r.type === 'end')).toEqual(ram);
  const commands = records.filter((r) => r.type === 'command');
  expect(commands.length).toBe(switchoverStart ? 1 : 0);
  if (switchoverStart) expect(records[lastRam - 1]).toBe(commands[0]);
}

describeEachQemu((v) => `QEMU ${v} outgoing streams parse completely`, (qemu) => {
  const qemuOpt = { qemu: qemu.version };
  for (const running of [false, true]) {
    const state = running ? 'running' : 'paused (-S)';
    it(`-machine none, ${state}`, async () => {
      const bytes = await saveStream({ machine: 'none', running, ...qemuOpt });
      const records = await inspectRecords(bytes);
      const devices = expectWholeStream(bytes, records, 'none', qemu.vmdescConfiguration);
      const live = qemu.sendsSwitchoverStart ? ['start', 'command', 'end'] : ['start', 'end'];
      expect(records.map((r) => r.type)).toEqual(['header', 'configuration', ...live, 'full', 'full', 'eof', 'vmdesc']);
      expectRam(records, qemu.sendsSwitchoverStart);
      expect(records.find((r) => r.type === 'start')).toMatchObject({ idstr: 'ram', sectionId: qemu.noneSectionIds.ram, versionId: 4, bodySize: 16 });
      expect(fullSections(records)).toEqual(['timer/0', 'globalstate/0']);
      expect(records.filter((r) => r.type === 'full').map((r) => [r.idstr, r.sectionId, r.bodySize])).toEqual([
        ['timer', qemu.noneSectionIds.timer, 24],
        ['globalstate', qemu.noneSectionIds.globalstate, 104],
      ]);
      expect(devices).toEqual(fullSections(records));
      expect(globalRunState(bytes, records)).toBe(running ? 'running' : 'prelaunch');
      expect(bytes.length).toBe(qemu.noneStreamBytes);
    });
  }

  for (const running of [false, true]) {
    const state = running ? 'running' : 'paused (-S)';
    it(`-machine pc -m 16, ${state}`, async () => {
      const bytes = await saveStream({ machine: 'pc', memoryMiB: 16, running, ...qemuOpt });
      const records = await inspectRecords(bytes);
      const devices = expectWholeStream(bytes, records, qemu.pcMachine, qemu.vmdescConfiguration);
      expectRam(records, qemu.sendsSwitchoverStart);
      expect(records.find((r) => r.type === 'start')).toMatchObject({ idstr: 'ram', versionId: 4, bodySize: 148 });
      expect(fullSections(records)).toEqual(PC_FULL_SECTIONS[qemu.version]);
      expect(devices).toEqual(PC_FULL_SECTIONS[qemu.version]);
      expect(globalRunState(bytes, records)).toBe(running ? 'running' : 'prelaunch');
    });
  }

  it('-machine q35 -m 16, running', async () => {
    const bytes = await saveStream({ machine: 'q35', memoryMiB: 16, running: true, ...qemuOpt });
    const records = await inspectRecords(bytes);
    const devices = expectWholeStream(bytes, records, qemu.q35Machine, qemu.vmdescConfiguration);
    expectRam(records, qemu.sendsSwitchoverStart);
    const full = fullSections(records);
    expect(devices).toEqual(full);
    expect(full).toEqual(expect.arrayContaining(['timer/0', '0000:00:00.0/mch/0', '0000:00:1f.0/ICH9LPC/0', '0000:00:1f.2/ich9_ahci/0', 'globalstate/0']));
    expect(full.at(-1)).toBe('globalstate/0');
    expect(globalRunState(bytes, records)).toBe('running');
  });
});
