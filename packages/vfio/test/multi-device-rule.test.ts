import { describe, expect, it } from 'vitest';
import { MULTI_DEVICE_BLOCKER_REASON, VfioMultiDeviceRule, type MultiDeviceBlockerSink } from '../src/index.js';
import { MULTI_DEVICE_BLOCKER_OWNER } from '../src/migration/multi-device-rule.js';

/** A blocker list like core's MigrationBlockers. */
function sink(): MultiDeviceBlockerSink & { readonly list: { reason: string; owner: string | undefined }[] } {
  const list: { reason: string; owner: string | undefined }[] = [];
  return {
    list,
    add(reason, owner) {
      const b = { reason, owner };
      list.push(b);
      return { dispose: () => void list.splice(list.indexOf(b), 1) };
    },
  };
}

const blockedBy = (...names: string[]): string => `${MULTI_DEVICE_BLOCKER_REASON} (without P2P: ${names.join(', ')})`;

describe("QEMU 8.2's multi-device P2P rule", () => {
  it('one device migrates whatever its flags; a second without P2P blocks; leaving lifts it', () => {
    const blockers = sink();
    const rule = new VfioMultiDeviceRule(blockers);
    const a = rule.join({ name: 'a', p2p: false });
    expect(rule.supported).toBe(true);
    expect(blockers.list).toEqual([]);
    const b = rule.join({ name: 'b', p2p: true });
    expect(rule.supported).toBe(false);
    expect(blockers.list).toEqual([{ reason: blockedBy('a'), owner: MULTI_DEVICE_BLOCKER_OWNER }]);
    b.dispose();
    expect(blockers.list).toEqual([]);
    a.dispose();
    a.dispose();
    expect(rule.members).toEqual([]);
  });

  it('devices that all have P2P never block, however many', () => {
    const blockers = sink();
    const rule = new VfioMultiDeviceRule(blockers);
    for (const name of ['a', 'b', 'c']) rule.join({ name, p2p: true });
    expect(rule.supported).toBe(true);
    expect(blockers.list).toEqual([]);
  });

  it('the one blocker names every device without P2P as they come and go, and stays until the rule holds', () => {
    const blockers = sink();
    const rule = new VfioMultiDeviceRule(blockers);
    rule.join({ name: 'p', p2p: true });
    const a = rule.join({ name: 'a', p2p: false });
    const b = rule.join({ name: 'b', p2p: false });
    expect(blockers.list.map((x) => x.reason)).toEqual([blockedBy('a', 'b')]);
    a.dispose();
    expect(blockers.list.map((x) => x.reason)).toEqual([blockedBy('b')]);
    expect(rule.blockerReason).toBe(blockedBy('b'));
    b.dispose();
    expect(blockers.list).toEqual([]);
    expect(rule.blockerReason).toBeUndefined();
  });

  it('an exempt device counts as one with P2P', () => {
    const blockers = sink();
    const rule = new VfioMultiDeviceRule(blockers);
    rule.join({ name: 'a', p2p: false, exempt: true });
    rule.join({ name: 'b', p2p: true });
    expect(rule.supported).toBe(true);
    const c = rule.join({ name: 'c', p2p: false });
    expect(blockers.list.map((x) => x.reason)).toEqual([blockedBy('c')]);
    c.dispose();
    expect(blockers.list).toEqual([]);
  });

  it('one rule per VM: keyed by the VM blockers', () => {
    const vm1 = sink();
    const vm2 = sink();
    expect(VfioMultiDeviceRule.of(vm1)).toBe(VfioMultiDeviceRule.of(vm1));
    VfioMultiDeviceRule.of(vm1).join({ name: 'a', p2p: false });
    VfioMultiDeviceRule.of(vm2).join({ name: 'b', p2p: false });
    expect(vm1.list).toEqual([]);
    expect(vm2.list).toEqual([]);
    VfioMultiDeviceRule.of(vm1).join({ name: 'c', p2p: true });
    expect(vm1.list.map((x) => x.reason)).toEqual([blockedBy('a')]);
    expect(vm2.list).toEqual([]);
  });
});
