import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MigrationError, RunState, isMigrationErrorReason, type SaveVMHandlers } from '../src/index.js';
import { BlobDevice, RamLikeDevice } from './helpers/devices.js';
import { World, readerOf, saveToMemory } from './helpers/world.js';

/** A stream with a live `ram` (v4), a `timer` blob (v2) and a `dev` blob (v1). */
async function makeStream(): Promise<Buffer> {
  const src = new World(RunState.RUNNING);
  src.registry.register('ram', 0, 4, new RamLikeDevice({ pages: 4, pageSize: 32 }));
  src.registry.register('timer', 0, 2, new BlobDevice(Buffer.from('timer-state')));
  src.registry.register('dev', 0, 1, new BlobDevice(Buffer.from('dev-state')));
  return (await saveToMemory(src)).bytes;
}

interface Dest {
  world: World;
  devices: (RamLikeDevice | BlobDevice)[];
}

/** A destination with the given registrations (defaults: all three, matching). */
function destination(overrides: { timer?: [number, number]; withoutDev?: boolean; timerHandlers?: SaveVMHandlers } = {}): Dest {
  const world = new World(RunState.INMIGRATE);
  const ram = new RamLikeDevice({ pages: 4, pageSize: 32 });
  const timer = new BlobDevice(Buffer.alloc(0));
  const dev = new BlobDevice(Buffer.alloc(0));
  world.registry.register('ram', 0, 4, ram);
  const [version, minimum] = overrides.timer ?? [2, 0];
  world.registry.register('timer', 0, version, overrides.timerHandlers ?? timer, { minimumVersionId: minimum });
  if (!overrides.withoutDev) world.registry.register('dev', 0, 1, dev);
  const devices = [ram, ...(overrides.timerHandlers ? [] : [timer]), ...(overrides.withoutDev ? [] : [dev])];
  return { world, devices };
}

async function loadExpectingError(dest: Dest, bytes: Uint8Array, options = {}): Promise<MigrationError> {
  const error = await dest.world.destination.load(readerOf(bytes), options).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(MigrationError);
  for (const d of dest.devices) expect(d.log.count('loadCleanup')).toBe(1);
  expect(dest.world.destinationStatuses.at(-1)).toBe('failed');
  expectWellFormed(error as MigrationError);
  return error as MigrationError;
}

/** Every failure has a reason, and its message states a byte offset at most once. */
function expectWellFormed(error: MigrationError): void {
  expect(isMigrationErrorReason(error.reason)).toBe(true);
  expect(error.message.split('byte offset').length - 1).toBeLessThanOrEqual(1);
}

/** Offset of the vmdesc record (EOF is the byte before it). */
function vmdescOffset(bytes: Buffer): number {
  for (let p = bytes.length - 5; p > 0; p--) {
    if (bytes[p] === 0x06 && bytes[p - 1] === 0x00 && bytes.readUInt32BE(p + 1) === bytes.length - p - 5) return p;
  }
  throw new Error('no vmdesc');
}

describe('destination errors: each clear, load cleanup always called', () => {
  it('accepts the stream when everything matches (control)', async () => {
    const dest = destination();
    const info = await dest.world.destination.load(readerOf(await makeStream()), { machine: 'none' });
    expect(info.status).toBe('completed');
    expect(info.warnings).toEqual([]);
  });

  it('unknown section: names the idstr, instance, section and offset', async () => {
    const bytes = await makeStream();
    const e = await loadExpectingError(destination({ withoutDev: true }), bytes);
    expect(e.phase).toBe('load-dispatch');
    expect(e.entry).toEqual({ idstr: 'dev', instanceId: 0 });
    expect(e.section?.type).toBe('full');
    expect(e.offset).toBeGreaterThan(8);
    expect(bytes[e.offset!]).toBe(0x04); // the offset is that of the FULL record
    expect(e.message).toMatch(/Unknown savevm section or instance 'dev' 0/);
    expect(e.errno).toBe('EINVAL');
    expect(e.reason).toBe('UNKNOWN_SECTION');
  });

  it('version too new: refused naming both versions', async () => {
    const e = await loadExpectingError(destination({ timer: [1, 0] }), await makeStream());
    expect(e.entry).toEqual({ idstr: 'timer', instanceId: 0 });
    expect(e.message).toMatch(/stream's version 2 is newer than the local version 1/);
    expect(e.reason).toBe('VERSION_TOO_NEW');
  });

  it('version older than the local minimum: refused naming both versions', async () => {
    const e = await loadExpectingError(destination({ timer: [3, 3] }), await makeStream());
    expect(e.message).toMatch(/version 2 of 'timer' is older than the local minimum version 3/);
    expect(e.reason).toBe('BAD_STREAM');
  });

  it('footer mismatch: names the section whose footer is wrong', async () => {
    const bytes = await makeStream();
    const footer = vmdescOffset(bytes) - 6; // dev's FULL footer sits right before EOF
    expect(bytes[footer]).toBe(0x7e);
    bytes.writeUInt32BE(0x1234, footer + 1);
    const e = await loadExpectingError(destination(), bytes);
    expect(e.phase).toBe('load-footer');
    expect(e.entry).toEqual({ idstr: 'dev', instanceId: 0 });
    expect(e.offset).toBe(footer);
    expect(e.message).toMatch(/mismatched section id in footer for dev - read 0x1234/);
    expect(e.reason).toBe('BAD_STREAM');
  });

  it('a handler reading too little leaves the footer missing: named the same way', async () => {
    const short: SaveVMHandlers = { loadState: async (f) => void (await f.getBe32()) }; // skips the blob bytes
    const e = await loadExpectingError(destination({ timerHandlers: short }), await makeStream());
    expect(e.phase).toBe('load-footer');
    expect(e.entry).toEqual({ idstr: 'timer', instanceId: 0 });
    expect(e.message).toMatch(/missing section footer for timer/);
    expect(e.reason).toBe('BAD_STREAM');
  });

  it('machine type: the received name may be a prefix of the local one (QEMU compares its length only)', async () => {
    const info = await destination().world.destination.load(readerOf(await makeStream()), { machine: 'none-but-longer' });
    expect(info.status).toBe('completed');
  });

  it('machine type mismatch in the configuration section', async () => {
    const e = await loadExpectingError(destination(), await makeStream(), { machine: 'pc-q35-7.2' });
    expect(e.phase).toBe('load-header');
    expect(e.message).toMatch(/Machine type received is 'none' and local is 'pc-q35-7.2'/);
    expect(e.reason).toBe('INVALID_ARGUMENT');
  });

  it('a stream without its configuration section fails in phase load-header, as QEMU does before any section', async () => {
    const bytes = await makeStream();
    // Header (magic, version: 8 bytes), then QEMU_VM_CONFIGURATION (0x07), be32 length, the machine name.
    expect(bytes[8]).toBe(0x07);
    const configurationEnd = 13 + bytes.readUInt32BE(9);
    expect(bytes[configurationEnd]).toBe(0x01); // the first SECTION_START follows
    const e = await loadExpectingError(destination(), Buffer.concat([bytes.subarray(0, 8), bytes.subarray(configurationEnd)]));
    expect(e.phase).toBe('load-header');
    expect(e.reason).toBe('BAD_STREAM');
    expect(e.errno).toBe('EINVAL');
    expect(e.message).toMatch(/configuration/i);
  });

  it('truncated stream: EIO with the offset; every cut point fails cleanly', async () => {
    const bytes = await makeStream();
    const eofAt = vmdescOffset(bytes) - 1;
    const e = await loadExpectingError(destination(), bytes.subarray(0, Math.floor(eofAt / 2)));
    expect(e.errno).toBe('EIO');
    expect(e.reason).toBe('TRUNCATED');
    expect(e.message).toMatch(/truncated/);
    expect(e.offset).toBeLessThanOrEqual(Math.floor(eofAt / 2));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: eofAt }), async (cut) => {
        const dest = destination();
        const error = await dest.world.destination.load(readerOf(bytes.subarray(0, cut))).catch((x: unknown) => x);
        expect(error).toBeInstanceOf(MigrationError);
        expect((error as MigrationError).offset).toBeLessThanOrEqual(cut);
        expect((error as MigrationError).reason).toBe('TRUNCATED');
        expectWellFormed(error as MigrationError);
        for (const d of dest.devices) expect(d.log.count('loadCleanup')).toBe(1);
      }),
      { numRuns: 60 },
    );
  });

  it('a stream cut after EOF (no vmdesc) still loads, with a warning as QEMU prints', async () => {
    const bytes = await makeStream();
    const info = await destination().world.destination.load(readerOf(bytes.subarray(0, vmdescOffset(bytes))));
    expect(info.status).toBe('completed');
    expect(info.warnings).toEqual(['Expected vmdescription section, but got 0']);
  });

  it('a throwing loadState names the entry, the section and the offset', async () => {
    const failing: SaveVMHandlers = {
      loadState: () => {
        throw new Error('bad timer');
      },
    };
    const e = await loadExpectingError(destination({ timerHandlers: failing }), await makeStream());
    expect(e.phase).toBe('load-state');
    expect(e.hook).toBe('loadState');
    expect(e.entry).toEqual({ idstr: 'timer', instanceId: 0 });
    expect(e.section?.type).toBe('full');
    expect(e.offset).toBeGreaterThan(0);
    expect(e.reason).toBe('DEVICE_FAILED');
  });
});

describe('loadCleanup is told how the load ended', () => {
  it('succeeded on a good stream; failed with the error when another entry broke the load', async () => {
    const outcomes: { succeeded: boolean; error?: Error }[] = [];
    const watcher: SaveVMHandlers = {
      loadState: async (f) => void (await f.getBytes(await f.getBe32())),
      loadCleanup: (_entry, outcome) => void outcomes.push(outcome),
    };
    const good = destination({ timerHandlers: watcher });
    await good.world.destination.load(readerOf(await makeStream()), { machine: 'none' });
    expect(outcomes).toEqual([{ succeeded: true }]);

    const bytes = await makeStream();
    const broken = Buffer.from(bytes);
    // Cut the stream inside the `dev` section, after the timer section loaded.
    const cut = broken.subarray(0, broken.indexOf(Buffer.from('dev-state')) + 3);
    const bad = destination({ timerHandlers: watcher });
    const error = await bad.world.destination.load(readerOf(cut), { machine: 'none' }).catch((e: unknown) => e);
    expect(outcomes[1]).toEqual({ succeeded: false, error });
  });
});

describe('a loadCleanup that throws after a good load', () => {
  it('fails the migration naming the entry and the phase (QEMU could only report it)', async () => {
    const refusing: SaveVMHandlers = {
      loadState: async (f) => void (await f.getBytes(await f.getBe32())),
      loadCleanup: () => {
        throw new Error('the device refused the state it was given');
      },
    };
    const dest = destination({ timerHandlers: refusing });
    const error = (await dest.world.destination.load(readerOf(await makeStream()), { machine: 'none', autostart: true }).catch((e: unknown) => e)) as MigrationError;
    expect(error).toBeInstanceOf(MigrationError);
    expect(error.phase).toBe('load-cleanup');
    expect(error.reason).toBe('DEVICE_FAILED');
    expect(error.entry).toEqual({ idstr: 'timer', instanceId: 0 });
    expect(error.message).toContain('the device refused the state it was given');
    expect(dest.world.destinationStatuses.at(-1)).toBe('failed');
    expect(dest.world.runState.isRunning).toBe(false);
  });
});
