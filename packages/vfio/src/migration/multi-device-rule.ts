/**
 * QEMU 8.2's rule for several VFIO devices in one VM: they migrate together only when every
 * one of them supports the P2P states, since the VM's stop and start would otherwise leave a
 * stopped device exposed to a peer still doing DMA to it. One device migrates whatever its
 * flags. While the rule is broken, one migration blocker naming the devices without P2P is
 * registered; it is lifted when a detach mends the rule. A v1 device has no P2P state and
 * counts as one without it. A VMM that knows a device takes no part in peer-to-peer DMA
 * may exempt it (savevm's own escape: QEMU has none). See docs/embedding-in-a-vmm.md §3.
 */

/** A registration to undo (structurally core's `Disposable`). */
export interface MultiDeviceRegistration {
  /** Undoes it. */
  dispose(): void;
}

/** Where the rule puts its blocker: structurally core's `MigrationBlockers`. */
export interface MultiDeviceBlockerSink {
  /** Adds a blocker; disposing the result lifts it. */
  add(reason: string, owner?: string): MultiDeviceRegistration;
}

/** One VFIO device taking part in migration. */
export interface MultiDeviceMember {
  /** The device's name, as the blocker shows it. */
  readonly name: string;
  /** Whether it supports the P2P states (`VFIO_MIGRATION_P2P`). */
  readonly p2p: boolean;
  /** The VMM vouches that it takes no part in peer-to-peer DMA: counted as if it had P2P. */
  readonly exempt?: boolean;
}

/** The blocker's owner, as `migrate`'s refusal shows it. */
export const MULTI_DEVICE_BLOCKER_OWNER = 'vfio';

/** QEMU's blocker message (hw/vfio, QEMU 8.2+); savevm adds the devices without P2P. */
export const MULTI_DEVICE_BLOCKER_REASON = 'Multiple VFIO devices migration is supported only if all of them support P2P migration';

const RULES = new WeakMap<MultiDeviceBlockerSink, VfioMultiDeviceRule>();

/** The rule over one VM's VFIO devices, keyed by the VM's blockers. */
export class VfioMultiDeviceRule {
  #members: MultiDeviceMember[] = [];
  #blocker: { readonly reason: string; dispose(): void } | undefined;

  /** @param blockers the VM's migration blockers */
  constructor(private readonly blockers: MultiDeviceBlockerSink) {}

  /** The one rule of the VM whose blockers these are (created on first use). */
  static of(blockers: MultiDeviceBlockerSink): VfioMultiDeviceRule {
    let rule = RULES.get(blockers);
    if (rule === undefined) {
      rule = new VfioMultiDeviceRule(blockers);
      RULES.set(blockers, rule);
    }
    return rule;
  }

  /** The devices taking part, in the order they joined. */
  get members(): readonly MultiDeviceMember[] {
    return this.#members;
  }

  /** The devices that break the rule: without P2P and not exempt, in the order they joined. */
  get withoutP2P(): readonly string[] {
    return this.#members.filter((m) => !m.p2p && m.exempt !== true).map((m) => m.name);
  }

  /** QEMU `vfio_multiple_devices_migration_is_supported`: at most one device, or all with P2P. */
  get supported(): boolean {
    return this.#members.length <= 1 || this.withoutP2P.length === 0;
  }

  /** The blocker's reason while one is registered. */
  get blockerReason(): string | undefined {
    return this.#blocker?.reason;
  }

  /**
   * A device takes part (QEMU: at realize, once its migration is set up). Blocks migration
   * when the rule is now broken; dispose the result when the device goes away.
   */
  join(member: MultiDeviceMember): MultiDeviceRegistration {
    this.#members = [...this.#members, member];
    this.#update();
    let joined = true;
    return {
      dispose: () => {
        if (!joined) return;
        joined = false;
        this.#members = this.#members.filter((m) => m !== member);
        this.#update();
      },
    };
  }

  /** Adds, renames or lifts the blocker to match the devices now taking part. */
  #update(): void {
    if (this.supported) {
      this.#blocker?.dispose();
      this.#blocker = undefined;
      return;
    }
    const reason = `${MULTI_DEVICE_BLOCKER_REASON} (without P2P: ${this.withoutP2P.join(', ')})`;
    if (this.#blocker?.reason === reason) return;
    this.#blocker?.dispose();
    const handle = this.blockers.add(reason, MULTI_DEVICE_BLOCKER_OWNER);
    this.#blocker = { reason, dispose: () => handle.dispose() };
  }
}
