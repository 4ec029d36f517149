/**
 * SWITCHOVER_START leaves the source before the device-state threads' data (QEMU
 * `qemu_savevm_command_send` flushes every command): the destination starts its load work
 * at that command, so a command held back in the main stream's buffer until the device
 * threads end makes the destination queue every device-state buffer and load them only
 * afterwards (measured by bench/multifd-device-capped.mjs: all 1024 buffers of 1 GiB queued).
 */
import { MemoryWriteChannel, QemuFileWriter } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import { MultifdSendChannels, RunState, multifdSettingsFor, type DeviceStateSender, type SaveVMHandlers } from '../src/index.js';
import { World } from './helpers/world.js';

/** QEMU_VM_COMMAND, be16 MIG_CMD_SWITCHOVER_START (11), be16 length 0. */
const SWITCHOVER_START = Buffer.from([0x08, 0x00, 0x0b, 0x00, 0x00]);

describe('SWITCHOVER_START with device state on multifd channels', () => {
  it('is on the main channel before the first device-state thread sends', async () => {
    const world = new World(RunState.RUNNING);
    const main = new MemoryWriteChannel();
    const seenAtThreadStart: Buffer[] = [];
    const device: SaveVMHandlers = {
      async saveCompletePrecopyThread(sender: DeviceStateSender): Promise<void> {
        seenAtThreadStart.push(main.bytes());
        await sender.send(Buffer.alloc(64, 1));
      },
      saveState: (f) => f.putBe32(1),
    };
    world.registry.register('dev', 0, 1, device);
    const channel = new MemoryWriteChannel();
    const multifd = new MultifdSendChannels([new QemuFileWriter(channel)], multifdSettingsFor('qemu-10.0', 1));
    const info = await world.source.migrate(new QemuFileWriter(main), { maxBandwidth: 0, streamCompat: 'qemu-10.0' }, { multifd });
    expect(info.status).toBe('completed');
    expect(seenAtThreadStart).toHaveLength(1);
    const delivered = seenAtThreadStart[0] as Buffer;
    expect(delivered.subarray(delivered.length - SWITCHOVER_START.length)).toEqual(SWITCHOVER_START);
    expect(channel.size).toBeGreaterThan(64);
  });
});
