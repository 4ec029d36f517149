// qemu10-vfio.guest.mjs — a VFIO device moved between QEMU 10.0 and savevm on the real kernel
// (docs/design/qemu-versions.md, "A VFIO device between QEMU 10.0 and savevm"). QEMU 10.0 runs
// inside this guest (TCG inside TCG, `-M pc -nodefaults -S -m 64`) with an mtty mdev as vfio-pci:
//   step1  UART state is put into mtty A through savevm's own VfioDevice (BARs), A is closed, and
//          QEMU 10.0 realizes it and migrates the paused machine to a file (default dirty tracking);
//   step2  savevm's inspect lists that stream's VFIO section: START (SETUP_STATE), PART (the 24-byte
//          pre-copy header), END (72 bytes of ports), FULL (QEMU's PCI config state);
//   step3  savevm's destination (@savevm/vfio-v2, QEMU's config bytes kept by OpaqueConfigState)
//          loads those VFIO sections into mtty B, and A's UART contents are read back from B;
//   step4  B, given new UART contents, is saved by savevm; its VFIO section bodies replace QEMU's
//          in a copy of QEMU's stream; QEMU 10.0 loads that into mtty C, runs, stops and migrates
//          out again, and its device bytes are savevm's byte for byte.
// The steps share their results (one QEMU source run serves steps 1–4), and each step runs what it
// needs when it runs alone (--filter). Without QEMU 10.0 in the initramfs (not in the host's
// cache, outside CI) every test is skipped with the reason.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { RunState } from '@savevm/core';
import { inspectStream } from '@savevm/inspect';
import { openFileChannel } from '@savevm/stream';
import { MigState, migStateName, openVfioDevice } from '@savevm/vfio';
import { OpaqueConfigState } from '@savevm/vfio-v2';
import { MTTY_HEADER_SIZE, MTTY_MAGIC, MTTY_PORT_SIZE, parseMttyHeader } from './lib/migration.mjs';
import { Qemu, decodeMttyPort, machineArgs, qemu10Manifest, sectionExtents, spliceVfioBodies, vfioOnlyStream } from './lib/qemu10.mjs';
import { UART_LCR, UART_SCR, peekRegisters, receiveAll, transmit, writeReg } from './lib/uart.mjs';
import { FAST, GuestVm, deviceDataBlocks } from './lib/vm.mjs';

export const timeoutMs = 90_000;

/** QEMU's first free slot on `-M pc -nodefaults` is 00:02.0, so its section is `0000:00:02.0/vfio`. */
const IDSTR = '0000:00:02.0/vfio';
/** What goes into mtty A before QEMU opens it (FIFO texts fit mtty's 16-byte FIFO). */
const BEFORE = [
  { text: 'QEMU10>savevm', lcr: 0x1b, scr: 0x5a },
  { text: 'port1', lcr: 0x07, scr: 0xa5 },
];
/** What B holds when savevm saves it (so QEMU's second stream can only carry savevm's bytes). */
const AFTER = [
  { text: 'savevm>QEMU10', lcr: 0x1b, scr: 0xc3 },
  { text: 'p1!', lcr: 0x07, scr: 0x3c },
];

function requireQemu(t) {
  const m = qemu10Manifest();
  if (m === undefined) t.skip('QEMU 10.0 is not in the initramfs (not in the host cache: node test/interop/qemu-versions/fetch-qemu-10.mjs)');
  return m;
}

/** Puts LCR, scratch and FIFO text into each port through the BARs. */
function putState(device, ports) {
  ports.forEach(({ text, lcr, scr }, port) => {
    writeReg(device, port, UART_LCR, lcr);
    writeReg(device, port, UART_SCR, scr);
    transmit(device, port, text);
  });
}

/** The device bytes of the VFIO sections (every DEV_DATA_STATE block, in stream order). */
function deviceBytes(bytes, inspection) {
  const buf = Buffer.from(bytes);
  return Buffer.concat(deviceDataBlocks(buf, inspection, IDSTR).map((b) => buf.subarray(b.dataOffset, b.dataOffset + b.size)));
}

/** mtty's stream decoded: header and each port's registers and FIFO text. */
function decodeMtty(bytes) {
  const header = parseMttyHeader(bytes);
  assert.equal(header.magic, MTTY_MAGIC, 'mtty magic');
  assert.equal(bytes.length, MTTY_HEADER_SIZE + header.nrPorts * MTTY_PORT_SIZE, 'mtty stream size');
  const ports = [];
  for (let i = 0; i < header.nrPorts; i++) ports.push(decodeMttyPort(bytes.subarray(MTTY_HEADER_SIZE + i * MTTY_PORT_SIZE, MTTY_HEADER_SIZE + (i + 1) * MTTY_PORT_SIZE)));
  return { header, ports };
}

function expectPorts(decoded, ports, label) {
  ports.forEach(({ text, lcr, scr }, i) => {
    assert.deepEqual(
      { lcr: decoded.ports[i].lcr, scr: decoded.ports[i].scr, fifo: decoded.ports[i].fifo },
      { lcr, scr, fifo: text },
      `${label} port ${i}`,
    );
  });
}

/** One line per VFIO record of an inspection: `start SETUP_STATE END_OF_STATE`. */
function vfioListing(inspection) {
  return sectionExtents(inspection, IDSTR).map((r) => `${r.record.type} id=${r.record.sectionId} v${r.record.versionId}: ${r.vfio?.tags.join(' ') ?? `(${r.decoding})`}`);
}

const uptime = () => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

// ---- shared steps (memoized: the first test that needs a step runs it) -----------------------

let sourceRun;
/** Step 1: state into A through savevm, QEMU 10.0 on A migrates to a file. */
function qemuSource(t) {
  sourceRun ??= (async () => {
    const a = t.createMdev('mtty-2');
    const device = openVfioDevice({ mdevUuid: a.uuid }, { via: 'group' });
    try {
      putState(device, BEFORE);
    } finally {
      device.close();
    }
    const path = '/tmp/qemu10-source.mig';
    const started = uptime();
    const q = new Qemu(t, 'source', machineArgs(a));
    const version = await q.start();
    const greetingS = uptime() - started;
    const status = await q.execute('query-status');
    const before = await q.execute('query-migrate');
    const tMig = uptime();
    await q.execute('migrate', { uri: `file:${path}` });
    const info = await q.migrationCompleted();
    const migrateS = uptime() - tMig;
    await q.close();
    const bytes = readFileSync(path);
    const inspection = await inspectStream(bytes);
    return { mdev: a, version, status, before, info, bytes, inspection, stderr: q.stderr, exit: q.exit, seconds: { greetingS, migrateS, totalS: uptime() - started } };
  })();
  return sourceRun;
}

let savevmRun;
/** Step 3: savevm loads QEMU's VFIO sections into B, reads A's UART back, puts new state, saves B. */
function savevmLoadAndSave(t) {
  savevmRun ??= (async () => {
    const src = await qemuSource(t);
    const b = t.createMdev('mtty-2');
    const config = new OpaqueConfigState();
    const vm = new GuestVm(t, { label: 'B', initial: RunState.INMIGRATE, v2: { configState: config } });
    const { device } = await vm.addDevice(b, 'cdev', {}, '0000:00:02.0');
    const inPath = '/tmp/qemu10-vfio-only.mig';
    const only = vfioOnlyStream(src.bytes, src.inspection, IDSTR);
    writeFileSync(inPath, only);
    const started = uptime();
    const loaded = await vm.destination.loadFromChannel(openFileChannel(inPath, 'read'), { autostart: true });
    const loadS = uptime() - started;
    const stateAfterLoad = migStateName(device.getState());
    const readBack = BEFORE.map((_, port) => ({ ...peekRegisters(device, port), fifo: receiveAll(device, port) }));
    putState(device, AFTER);
    const outPath = '/tmp/qemu10-savevm.mig';
    const saved = await vm.source.migrateToChannel(openFileChannel(outPath, 'write'), FAST);
    const bytes = readFileSync(outPath);
    const inspection = await inspectStream(bytes);
    return { only, loaded, loadS, stateAfterLoad, readBack, config: config.bytes, saved, bytes, inspection };
  })();
  return savevmRun;
}

// ---- tests ---------------------------------------------------------------------------------

export async function step1QemuMigratesMttyToFile(t) {
  const m = requireQemu(t);
  const src = await qemuSource(t);
  t.log(`QEMU ${src.version.major}.${src.version.minor}.${src.version.micro} (${m.debianVersion}): QMP after ${src.seconds.greetingS.toFixed(2)} s, migrate→completed ${src.seconds.migrateS.toFixed(2)} s, whole run ${src.seconds.totalS.toFixed(2)} s; ${src.bytes.length} bytes`);
  assert.equal(`${src.version.major}.${src.version.minor}`, '10.0', 'QEMU version');
  assert.equal(src.status.status, 'prelaunch', 'source run state before migrating');
  assert.deepEqual(src.before['blocked-reasons'] ?? [], [], 'nothing blocks the migration');
  assert.equal(src.info.status, 'completed');
  assert.equal(src.exit.code, 0, 'QEMU exit');
  // Default dirty tracking: the device's DMA logging (mtty has log_ops; IOMMUFD_DRIVER makes its report work).
  const traceLines = src.stderr.split('\n');
  assert.ok(traceLines.some((l) => l.includes('vfio_device_dirty_tracking_start')), 'QEMU started device dirty tracking');
  assert.ok(!src.stderr.includes('Failed to get DMA logging report'), 'the DMA logging report works');
  t.report('step1: QEMU 10.0 source (stderr: warnings and VFIO traces)', [
    `qemu ${machineArgs(src.mdev).join(' ')}`,
    `query-migrate: ${JSON.stringify({ status: src.info.status, 'total-time': src.info['total-time'], downtime: src.info.downtime, vfio: src.info.vfio, ram: { total: src.info.ram?.total, normal: src.info.ram?.normal } })}`,
    ...traceLines.filter((l) => /warning|error|dirty_tracking_start|set_state|migration_set|Cannot/i.test(l)).slice(0, 30),
  ]);
}

export async function step2InspectListsVfioSection(t) {
  requireQemu(t);
  const src = await qemuSource(t);
  const listing = vfioListing(src.inspection);
  t.report('step2: the VFIO section of QEMU 10.0\'s stream, as savevm inspect lists it', listing);
  const vfio = sectionExtents(src.inspection, IDSTR);
  const tags = (type) => vfio.filter((r) => r.record.type === type).map((r) => r.vfio?.tags.join(' '));
  assert.deepEqual(tags('start'), ['SETUP_STATE END_OF_STATE'], 'START');
  const parts = tags('part');
  assert.equal(parts[0], 'DATA_STATE(24) END_OF_STATE', 'the first PART carries mtty\'s pre-copy header');
  assert.ok(parts.slice(1).every((p) => p === 'END_OF_STATE'), `later PARTs are empty: ${parts.join(' | ')}`);
  assert.deepEqual(tags('end'), ['DATA_STATE(72) END_OF_STATE'], 'END carries the two ports');
  const full = vfio.filter((r) => r.record.type === 'full');
  assert.equal(full.length, 1, 'one FULL section');
  assert.match(full[0].vfio.tags.join(' '), /^CONFIG_STATE\(\d+\) END_OF_STATE$/, 'FULL carries the config state');
  assert.ok(full[0].vfio.configBytes >= 256, `config state of ${full[0].vfio.configBytes} bytes`);
  assert.ok(vfio.every((r) => r.decoding === 'vfio' && r.record.instanceId === 0 && r.record.versionId === 1), 'decoded as vfio, instance 0, version 1');
  assert.ok(src.inspection.records.some((r) => r.record.type === 'command' && r.record.name === 'SWITCHOVER_START'), 'QEMU 10.0 sent SWITCHOVER_START');
  // The device bytes carry A's UART state (written through savevm before QEMU opened A).
  const decoded = decodeMtty(deviceBytes(src.bytes, src.inspection));
  assert.equal(decoded.header.nrPorts, 2);
  expectPorts(decoded, BEFORE, 'QEMU stream');
}

export async function step3SavevmLoadsQemuDeviceData(t) {
  requireQemu(t);
  const src = await qemuSource(t);
  const run = await savevmLoadAndSave(t);
  t.log(`savevm loaded ${run.only.length} bytes (QEMU's header, configuration and VFIO sections) in ${run.loadS.toFixed(2)} s; B ${run.stateAfterLoad}`);
  assert.equal(run.loaded.status, 'completed', 'savevm destination status');
  assert.equal(run.stateAfterLoad, migStateName(MigState.RUNNING), 'B runs after autostart');
  const full = sectionExtents(src.inspection, IDSTR).find((r) => r.record.type === 'full');
  const qemuConfig = src.bytes.subarray(full.record.bodyOffset + 8, full.record.bodyOffset + 8 + full.vfio.configBytes);
  assert.ok(run.config !== undefined && Buffer.from(run.config).equals(qemuConfig), `QEMU's ${qemuConfig.length}-byte config state kept by the opaque hook`);
  BEFORE.forEach(({ text, lcr, scr }, port) => {
    assert.deepEqual(run.readBack[port], { lcr, mcr: run.readBack[port].mcr, scr, dataReady: true, fifo: text }, `B port ${port} read back`);
  });
  t.report('step3: A\'s UART state read back from B (through its BARs) after savevm loaded QEMU\'s device data', run.readBack.map((r, i) => `port ${i}: LCR 0x${r.lcr.toString(16)} SCR 0x${r.scr.toString(16)} FIFO ${JSON.stringify(r.fifo)}`));
}

export async function step4QemuLoadsSavevmDeviceData(t) {
  requireQemu(t);
  const src = await qemuSource(t);
  const run = await savevmLoadAndSave(t);
  assert.equal(run.saved.status, 'completed', `savevm source status (${run.saved.error ?? ''})`);
  const ours = deviceBytes(run.bytes, run.inspection);
  expectPorts(decodeMtty(ours), AFTER, 'savevm stream');
  const spliced = spliceVfioBodies(src.bytes, src.inspection, run.bytes, run.inspection, IDSTR);
  const splicedInspection = await inspectStream(spliced.bytes);
  assert.ok(deviceBytes(spliced.bytes, splicedInspection).equals(ours), 'the spliced stream carries savevm\'s device bytes');
  const qFull = sectionExtents(src.inspection, IDSTR).find((r) => r.record.type === 'full');
  const sFull = sectionExtents(splicedInspection, IDSTR).find((r) => r.record.type === 'full');
  assert.ok(
    spliced.bytes.subarray(sFull.record.bodyOffset, sFull.record.bodyOffset + sFull.bodySize).equals(src.bytes.subarray(qFull.record.bodyOffset, qFull.record.bodyOffset + qFull.bodySize)),
    'savevm wrote QEMU\'s config state back byte for byte',
  );
  const inPath = '/tmp/qemu10-spliced.mig';
  const outPath = '/tmp/qemu10-again.mig';
  writeFileSync(inPath, spliced.bytes);
  const c = t.createMdev('mtty-2');
  const started = uptime();
  const q = new Qemu(t, 'destination', machineArgs(c, ['-incoming', 'defer']));
  await q.start();
  await q.execute('migrate-incoming', { uri: `file:${inPath}` });
  const incoming = await q.migrationCompleted();
  const loadedS = uptime() - started;
  const afterLoad = (await q.execute('query-status')).status;
  // QEMU leaves the device RESUMING until the VM runs; a source needs it RUNNING or STOP.
  await q.execute('cont');
  const running = (await q.execute('query-status')).status;
  await q.execute('stop');
  await q.execute('migrate', { uri: `file:${outPath}` });
  const out = await q.migrationCompleted();
  await q.close();
  const totalS = uptime() - started;
  const again = readFileSync(outPath);
  const againInspection = await inspectStream(again);
  const theirs = deviceBytes(again, againInspection);
  t.report('step4: savevm\'s VFIO bodies in QEMU\'s stream, loaded by QEMU 10.0 on mtty C and migrated out again', [
    `replaced bodies: ${spliced.replaced.join(', ')}`,
    `QEMU destination: incoming ${incoming.status} in ${loadedS.toFixed(2)} s (from exec), then ${afterLoad} → cont → ${running} → stop → migrate ${out.status}; whole run ${totalS.toFixed(2)} s`,
    ...vfioListing(againInspection).map((l) => `out again: ${l}`),
    `device bytes: savevm ${ours.length}, QEMU out again ${theirs.length}, equal ${theirs.equals(ours)}`,
    ...q.stderr.split('\n').filter((l) => /warning|error|vfio_load_state |set_state|migration_set/i.test(l)).slice(0, 30),
  ]);
  assert.equal(incoming.status, 'completed', 'QEMU loaded the spliced stream');
  assert.equal(running, 'running', 'QEMU runs after cont');
  assert.equal(out.status, 'completed', 'QEMU migrated out again');
  assert.equal(q.exit.code, 0, 'QEMU exit');
  assert.ok(theirs.equals(ours), `QEMU's device bytes equal savevm's:\n  savevm ${ours.toString('hex')}\n  QEMU   ${theirs.toString('hex')}`);
  expectPorts(decodeMtty(theirs), AFTER, 'QEMU out again');
}
