/**
 * Where QEMU 7.2 and 10.0 differ, as the interop tests observe them (docs/design/qemu-versions.md
 * gives the why): one object per version, handed to each suite by `describeEachQemu`.
 */
import type { StreamCompat } from '@savevm/core';
import { NEWEST_COMMANDS, QEMU_7_2_COMMANDS, type CommandRule } from '@savevm/stream';
import type { QemuVersion } from './qemu-versions.js';

/** What one QEMU version does, where the versions differ. */
export interface QemuFacts {
  /** The version. */
  readonly version: QemuVersion;
  /** The `streamCompat` under which savevm's source writes what this version writes. */
  readonly streamCompat: StreamCompat;
  /** The machine type `-machine pc` names in the configuration section. */
  readonly pcMachine: string;
  /** The machine type `-machine q35` names in the configuration section. */
  readonly q35Machine: string;
  /** Section ids of `-machine none`'s entries (7.2 still registers a `block` handler before `ram`). */
  readonly noneSectionIds: { readonly timer: number; readonly ram: number; readonly globalstate: number };
  /** Bytes of a `-machine none` stream (no RAM): 10.0 adds SWITCHOVER_START and a larger vmdesc. */
  readonly noneStreamBytes: number;
  /** Whether its source sends MIG_CMD SWITCHOVER_START (11) before the END sections. */
  readonly sendsSwitchoverStart: boolean;
  /** Whether its destination accepts SWITCHOVER_START (7.2: "MIG_CMD 0xb unknown (len 0x0)"). */
  readonly acceptsSwitchoverStart: boolean;
  /** The commands its loader knows (a parser set up as it). */
  readonly commands: ReadonlyMap<number, CommandRule>;
  /** The lowest MIG_CMD number its loader refuses as unknown (its MIG_CMD_MAX). */
  readonly firstUnknownCommand: number;
  /** Whether its vmdesc opens with a `"configuration"` key. */
  readonly vmdescConfiguration: boolean;
  /** Whether its globalstate sets `has_vm_was_suspended` (byte 36 of the body). */
  readonly globalstateHasVmWasSuspended: boolean;
  /** What its source prints on stderr when the destination's SHUT says 1. */
  readonly siblingError: string;
  /** `query-migrate`'s status on a source whose stream is out while it waits for the destination's SHUT. */
  readonly statusAwaitingShut: string;
  /** Whether its destination sends SHUT 1 when its load fails (7.2 closes the connection without one). */
  readonly shutOnFailedLoad: boolean;
}

const FACTS: Readonly<Record<QemuVersion, QemuFacts>> = Object.freeze({
  '7.2': Object.freeze({
    version: '7.2',
    streamCompat: 'qemu-7.2',
    pcMachine: 'pc-i440fx-7.2',
    q35Machine: 'pc-q35-7.2',
    noneSectionIds: Object.freeze({ timer: 0, ram: 2, globalstate: 4 }),
    noneStreamBytes: 747,
    sendsSwitchoverStart: false,
    acceptsSwitchoverStart: false,
    commands: QEMU_7_2_COMMANDS,
    firstUnknownCommand: 0x0b,
    vmdescConfiguration: false,
    globalstateHasVmWasSuspended: false,
    siblingError: 'RP: Sibling indicated error 1',
    statusAwaitingShut: 'active',
    shutOnFailedLoad: false,
  }),
  '10.0': Object.freeze({
    version: '10.0',
    streamCompat: 'qemu-10.0',
    pcMachine: 'pc-i440fx-10.0',
    q35Machine: 'pc-q35-10.0',
    noneSectionIds: Object.freeze({ timer: 0, ram: 1, globalstate: 3 }),
    noneStreamBytes: 1089,
    sendsSwitchoverStart: true,
    acceptsSwitchoverStart: true,
    commands: NEWEST_COMMANDS,
    firstUnknownCommand: 0x0c,
    vmdescConfiguration: true,
    globalstateHasVmWasSuspended: true,
    siblingError: 'Sibling indicated error 1',
    statusAwaitingShut: 'device',
    shutOnFailedLoad: true,
  }),
});

/** The facts of one version. */
export function qemuFacts(version: QemuVersion): QemuFacts {
  return FACTS[version];
}
