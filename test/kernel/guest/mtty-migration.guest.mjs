// mtty-migration.guest.mjs — real migrations between two mtty devices using ONLY the
// @savevm/vfio device interface (VfioDevice.setState + VfioDataFile), no handlers: STOP_COPY,
// PRE_COPY (mtty: read() == 0 at the temporary end; PRE_COPY_P2P→STOP_COPY returns no new fd,
// the rest of the stream comes on the old one), and two devices quiesced through RUNNING_P2P.
// The source's UART state (FIFO bytes, LCR, scratch) must arrive on the destination.
import assert from 'node:assert/strict';
import { MigState, openVfioDevice } from '@savevm/vfio';
import { MTTY_HEADER_SIZE, MTTY_MAGIC, MTTY_PORT_SIZE, parseMttyHeader, readStream } from './lib/migration.mjs';
import { UART_LCR, UART_SCR, peekRegisters, receiveAll, transmit, writeReg } from './lib/uart.mjs';

/** Creates an mdev and opens it (closed and removed after the test). */
function device(t, type, via) {
  const mdev = t.createMdev(type);
  const dev = openVfioDevice({ mdevUuid: mdev.uuid }, { via });
  t.defer(() => dev.close());
  return dev;
}

/** Puts recognisable state into the ports: FIFO text, LCR, scratch. */
function putState(dev, ports) {
  ports.forEach(({ text, lcr, scr }, port) => {
    writeReg(dev, port, UART_LCR, lcr);
    writeReg(dev, port, UART_SCR, scr);
    transmit(dev, port, text);
  });
}

/** Checks the ports carry the state (reading the FIFO drains it). */
function expectState(dev, ports, label) {
  ports.forEach(({ text, lcr, scr }, port) => {
    const regs = peekRegisters(dev, port);
    assert.equal(regs.lcr, lcr, `${label} port ${port} LCR`);
    assert.equal(regs.scr, scr, `${label} port ${port} SCR`);
    assert.equal(receiveAll(dev, port), text, `${label} port ${port} FIFO`);
  });
}

/** Resumes `stream` into `dst` (STOP, RESUMING, write in two halves, STOP, RUNNING). */
async function resume(dst, stream) {
  assert.equal(dst.setState(MigState.STOP).dataFile, undefined);
  const { dataFile } = dst.setState(MigState.RESUMING);
  assert.ok(dataFile, 'STOP→RESUMING returns a data fd');
  assert.equal(dataFile.direction, 'resuming');
  const half = Math.floor(stream.length / 2);
  await dataFile.write(stream.subarray(0, half));
  await dataFile.write(stream.subarray(half));
  assert.equal(dst.setState(MigState.STOP).dataFile, undefined, 'RESUMING→STOP loads the state');
  dataFile.close();
  dst.setState(MigState.RUNNING);
  assert.equal(dst.getState(), MigState.RUNNING);
}

const TWO_PORTS = [
  { text: 'MIGRATE!', lcr: 0x1b, scr: 0x5a },
  { text: 'p1', lcr: 0x07, scr: 0xa5 },
];

export async function stopCopyMigration(t) {
  const src = device(t, 'mtty-2', 'group');
  const dst = device(t, 'mtty-2', 'cdev');
  putState(src, TWO_PORTS);
  assert.equal(src.getStopCopySize(), 96);

  assert.equal(src.setState(MigState.STOP).dataFile, undefined, 'RUNNING→STOP: no fd');
  const { dataFile } = src.setState(MigState.STOP_COPY);
  assert.ok(dataFile, 'STOP→STOP_COPY returns a data fd');
  assert.equal(dataFile.direction, 'saving');
  const { bytes, reads, last } = await readStream(dataFile, { chunk: 16 });
  assert.equal(last, 'end');
  assert.equal(bytes.length, 96, 'mtty-2 stream is 96 bytes');
  t.log(`STOP_COPY: ${bytes.length} bytes in ${reads} reads`);
  const header = parseMttyHeader(bytes);
  assert.deepEqual(header, { magic: MTTY_MAGIC, major: 1, minor: 0, nrPorts: 2, flags: 0 });
  assert.equal(src.setState(MigState.STOP).dataFile, undefined, 'STOP_COPY→STOP');
  assert.deepEqual(await dataFile.read(new Uint8Array(16)), { kind: 'session-ended' }, 'old fd: ENODEV');
  dataFile.close();

  await resume(dst, bytes);
  expectState(dst, TWO_PORTS, 'destination');
  src.reset();
  assert.equal(src.getState(), MigState.RUNNING);
}

export async function preCopyMigration(t) {
  const src = device(t, 'mtty-2', 'cdev');
  const dst = device(t, 'mtty-2', 'group');
  const before = [{ text: 'PRE', lcr: 0x03, scr: 0x11 }, { text: '', lcr: 0x07, scr: 0x22 }];
  putState(src, before);

  const { dataFile } = src.setState(MigState.PRE_COPY);
  assert.ok(dataFile, 'RUNNING→PRE_COPY returns a data fd');
  assert.deepEqual(src.getPrecopyInfo(dataFile), { initialBytes: MTTY_HEADER_SIZE, dirtyBytes: 0, flags: 0 });
  const initial = await readStream(dataFile, { chunk: 16, untilNoData: true });
  assert.equal(initial.bytes.length, MTTY_HEADER_SIZE, 'pre-copy carries the header only');
  assert.equal(initial.last, 'no-data-yet', 'read() == 0 at the temporary end is "no data yet" in PRE_COPY');
  assert.deepEqual(src.getPrecopyInfo(dataFile), { initialBytes: 0, dirtyBytes: 0, flags: 0 });

  // The device still runs in PRE_COPY: more state arrives before the switchover.
  transmit(src, 0, 'COPY');
  writeReg(src, 0, UART_LCR, 0x1b);
  transmit(src, 1, 'p1');

  assert.equal(src.setState(MigState.PRE_COPY_P2P).dataFile, undefined, 'PRE_COPY→PRE_COPY_P2P: no fd');
  assert.equal(src.setState(MigState.STOP_COPY).dataFile, undefined, 'PRE_COPY_P2P→STOP_COPY: no new fd (mtty)');
  const rest = await readStream(dataFile, { chunk: 16 });
  assert.equal(rest.last, 'end');
  assert.equal(rest.bytes.length, 2 * MTTY_PORT_SIZE, 'the ports follow on the old fd');
  src.setState(MigState.STOP);
  dataFile.close();

  const stream = Buffer.concat([initial.bytes, rest.bytes]);
  assert.equal(stream.length, 96);
  // Destination: RUNNING→RESUMING in one request (the kernel walks RUNNING_P2P, STOP).
  const { dataFile: resumeFile } = dst.setState(MigState.RESUMING);
  assert.ok(resumeFile);
  await resumeFile.write(stream);
  assert.equal(dst.setState(MigState.RUNNING).dataFile, undefined, 'RESUMING→RUNNING in one request');
  resumeFile.close();
  expectState(dst, [{ text: 'PRECOPY', lcr: 0x1b, scr: 0x11 }, { text: 'p1', lcr: 0x07, scr: 0x22 }], 'destination');
  src.reset();
}

export async function twoDevicesQuiescedThroughP2P(t) {
  const srcs = [device(t, 'mtty-2', 'group'), device(t, 'mtty-1', 'cdev')];
  const dsts = [device(t, 'mtty-2', 'cdev'), device(t, 'mtty-1', 'group')];
  const states = [TWO_PORTS, [{ text: 'one', lcr: 0x0b, scr: 0x33 }]];
  srcs.forEach((dev, i) => putState(dev, states[i]));
  // Quiesce every device (RUNNING_P2P) before any stops, as QEMU does for P2P-capable devices.
  for (const dev of srcs) assert.equal(dev.setState(MigState.RUNNING_P2P).dataFile, undefined);
  for (const dev of srcs) assert.equal(dev.getState(), MigState.RUNNING_P2P);
  const streams = [];
  for (const dev of srcs) {
    dev.setState(MigState.STOP);
    const { dataFile } = dev.setState(MigState.STOP_COPY);
    streams.push((await readStream(dataFile, { chunk: 4096 })).bytes);
    dev.setState(MigState.STOP);
    dataFile.close();
  }
  assert.deepEqual(streams.map((s) => s.length), [96, 60]);
  for (const [i, dst] of dsts.entries()) await resume(dst, streams[i]);
  dsts.forEach((dst, i) => expectState(dst, states[i], `destination ${i}`));
  for (const dev of srcs) dev.reset();
}
