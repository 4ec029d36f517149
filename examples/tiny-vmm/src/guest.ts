/**
 * The guest: while the VM runs, a timer writes into RAM, dirties the VFIO device's state and
 * advances the clock. It is a run-state change handler, so it quiesces with the VM.
 */
import { randomInt } from 'node:crypto';
import type { VmChangeStateHandler } from '@savevm/core';
import type { EmulatedDeviceModel } from '@savevm/vfio/emulated';
import type { GuestRam } from './devices/guest-ram.js';
import type { RtcState } from './devices/rtc.js';

/**
 * The guest's run-state priority. Handlers run in descending priority when the VM stops and
 * in ascending priority when it starts: the guest stops before any device and starts after
 * every device, as vCPUs do.
 */
export const GUEST_RUN_STATE_PRIORITY = 1000;

/** How often the guest runs, ms. */
const TICK_MS = 5;

/** The devices the guest touches. */
export interface GuestDevices {
  /** RAM it writes `pagesPerTick` bytes into, each on a random page. */
  readonly ram: GuestRam;
  /** The clock it advances. */
  readonly rtc: RtcState;
  /** The VFIO device whose state it changes. */
  readonly gpu: EmulatedDeviceModel;
}

/** A guest that runs exactly while the VM runs. */
export class Guest implements VmChangeStateHandler {
  private readonly devices: GuestDevices;
  private readonly pagesPerTick: number;
  private timer: NodeJS.Timeout | undefined;
  private writes = 0;

  /** @param devices what it touches; @param pagesPerTick RAM bytes written per tick */
  constructor(devices: GuestDevices, pagesPerTick = 16) {
    this.devices = devices;
    this.pagesPerTick = pagesPerTick;
  }

  /** Starts the guest when the VM starts, stops it when the VM stops. */
  change(running: boolean): void {
    if (running && this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.timer.unref();
    } else if (!running && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    const { ram, rtc, gpu } = this.devices;
    for (let i = 0; i < this.pagesPerTick; i++) ram.write(randomInt(ram.bytes.length), this.writes++ & 0xff);
    gpu.runWorkload(1);
    if (rtc.enabled) rtc.ticks++;
  }
}
