/**
 * The VM: one migration session and three devices registered with it, each the way its kind
 * is registered — the clock declaratively (`registerVmState`), the RAM with its own handlers
 * (`registry.register`), the VFIO device through the providers (`session.attach`) — plus the
 * guest and the digest section. Both sides of a migration build the same VM.
 */
import { registerVmState } from '@savevm/core';
import { type MigrationSession, createMigrationSession } from '@savevm/session';
import { vfioV2ContainerModule } from '@savevm/vfio-v2';
import { type EmulatedGpu, openEmulatedGpu } from './devices/gpu.js';
import { GuestRam } from './devices/guest-ram.js';
import { type RtcState, createRtcState, rtcVmState, rtcVmStateV1 } from './devices/rtc.js';
import { GUEST_RUN_STATE_PRIORITY, Guest } from './guest.js';
import { DIGEST_IDSTR, DIGEST_VERSION, DigestSection, sha256 } from './state-digest.js';

/** The RAM's size: 8 MiB. */
export const RAM_PAGES = 2048;

/** How to build a VM. */
export interface TinyVmOptions {
  /** What the RAM and the VFIO device start filled with (the two sides differ). */
  readonly seed: number;
  /** The clock's section version: 1 is an older build of the device (default 2). */
  readonly rtcVersion?: 1 | 2;
}

/** A tiny VM and its migration session. */
export class TinyVm {
  /** The migration session: registry, run state, `migrate`, `incoming`. */
  readonly session: MigrationSession;
  /** The live device. */
  readonly ram: GuestRam;
  /** The declarative device's registers. */
  readonly rtc: RtcState;
  /** The VFIO device. */
  readonly gpu: EmulatedGpu;
  /** The digest section (its `check` is the destination's `verifyLoaded`). */
  readonly digest: DigestSection;

  private constructor(session: MigrationSession, ram: GuestRam, rtc: RtcState, gpu: EmulatedGpu) {
    this.session = session;
    this.ram = ram;
    this.rtc = rtc;
    this.gpu = gpu;
    this.digest = new DigestSection(() => this.digests());
  }

  /** Builds the VM with its devices registered; it starts stopped (prelaunch). */
  static async create(options: TinyVmOptions): Promise<TinyVm> {
    // The VFIO v2 provider makes VFIO devices migratable through `attach`.
    const session = await createMigrationSession({ providers: [vfioV2ContainerModule()] });

    // 1. Declarative: core saves and loads the registers; the idstr is the description's name.
    const rtc = createRtcState();
    registerVmState(session.registry, options.rtcVersion === 1 ? rtcVmStateV1 : rtcVmState, rtc);

    // 2. Hand-written live handlers: idstr, instance id, version, handlers.
    const ram = new GuestRam(RAM_PAGES, options.seed);
    session.registry.register('tiny-ram', 0, 1, ram);

    // 3. VFIO through the providers: v2 probes the device, registers its handlers (section
    //    `gpu0/vfio`) and its run-state handler (RUNNING_P2P, then STOP, at switchover).
    const gpu = openEmulatedGpu(options.seed);
    try {
      await session.attach(gpu.device, 'gpu0');
    } catch (err) {
      gpu.device.close();
      throw err;
    }

    const vm = new TinyVm(session, ram, rtc, gpu);
    // The guest quiesces with the VM: first to stop, last to start.
    session.runState.addChangeHandler(new Guest({ ram, rtc, gpu: gpu.model }), { name: 'guest', priority: GUEST_RUN_STATE_PRIORITY });
    // Registered last, so its FULL section comes after the clock's.
    session.registry.register(DIGEST_IDSTR, 0, DIGEST_VERSION, vm.digest);
    return vm;
  }

  /** SHA-256 of every device's state, by device name. */
  digests(): Map<string, string> {
    const { ticks, periodUs, enabled, alarm } = this.rtc;
    return new Map([
      ['tiny-ram', sha256(this.ram.bytes)],
      ['tiny-rtc', sha256(`${ticks}/${periodUs}/${enabled}/${alarm}`)],
      ['gpu0', sha256(this.gpu.model.stateBytes)],
    ]);
  }

  /** One digest over every device's, for a log line. */
  fingerprint(): string {
    return sha256([...this.digests()].map(([name, digest]) => `${name}=${digest}`).join('\n'));
  }

  /** Stops the guest and closes the VFIO device. */
  async close(): Promise<void> {
    if (this.session.runState.isRunning) await this.session.runState.stop();
    this.gpu.device.close();
  }
}
