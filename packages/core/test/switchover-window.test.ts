import { describe, expect, it } from 'vitest';
import { resolveParameters } from '../src/parameters.js';
import { SwitchoverPolicy } from '../src/driver/source/switchover-policy.js';
import { FakeClock } from './helpers/fake-clock.js';

/** A source's switchover policy: 300 ms downtime limit, bandwidth measured (no assumption set). */
function policy(clock: FakeClock): SwitchoverPolicy {
  const params = resolveParameters({ downtimeLimitMs: 300, availSwitchoverBandwidth: 0, maxBandwidth: 0 });
  return new SwitchoverPolicy({ params, clock, warn: () => undefined });
}

describe('the measuring window', () => {
  it('stays open while a busy sender has had nothing taken yet: bytes taken all at once are not credited to a shorter window', () => {
    const clock = new FakeClock();
    const p = policy(clock);
    clock.advance(150);
    expect(p.measure(0)).toBe(false); // a write in flight, nothing taken yet
    clock.advance(50);
    expect(p.measure(1_000_000)).toBe(true); // taken at once, after 200 ms
    expect(p.bandwidthBytesPerMs).toBe(5000);
    expect(p.thresholdBytes).toBe(5000 * 300);
  });

  it('closes once 100 ms have passed when the sender went idle, even with nothing taken', () => {
    const clock = new FakeClock();
    const p = policy(clock);
    p.markIdle();
    clock.advance(100);
    expect(p.measure(0)).toBe(true);
    expect(p.thresholdBytes).toBeGreaterThan(0); // the assumed bandwidth, until one is measured
  });

  it('gives the expected downtime from the bandwidth the switchover decision assumes, not an idle window\'s', () => {
    const clock = new FakeClock();
    const p = policy(clock);
    p.notePending(2_000_000);
    clock.advance(100);
    p.measure(1_000_000); // 10,000 bytes/ms measured
    expect(p.expectedDowntimeMs).toBe(200);
    p.markIdle(); // the sender had nothing more; a queue taken all at once lands in this window
    clock.advance(100);
    p.measure(11_000_000);
    expect(p.thresholdBytes).toBe(10_000 * 300);
    expect(p.expectedDowntimeMs).toBe(200);
  });
});
