/**
 * The reorder queue of multifd state buffers (docs/design/multifd.md §4): under an
 * adversarial scheduler (any delivery order across several devices, duplicates, device
 * writes finishing in any order relative to deliveries) every device loads its buffers in
 * index order; duplicates are refused; the cap is honoured exactly and the bytes held never
 * exceed it; each refusal in QEMU's words, naming the device and the index.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { StateBufferQueue, VfioMultifdError, type VfioMultifdRefusal } from '../src/index.js';

async function refusalOf(promise: Promise<unknown>): Promise<VfioMultifdError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VfioMultifdError);
  return err as VfioMultifdError;
}

/** One device's buffers: data sizes, then the config's; and the order its deliveries are tried in. */
const deviceArb = fc.record({
  sizes: fc.array(fc.integer({ min: 0, max: 64 }), { minLength: 0, maxLength: 12 }),
  configSize: fc.integer({ min: 1, max: 32 }),
  duplicates: fc.array(fc.nat(), { maxLength: 4 }),
});

interface Delivery {
  readonly device: number;
  readonly index: number;
  readonly size: number;
  readonly last: boolean;
}

function deliveriesOf(devices: readonly { sizes: number[]; configSize: number; duplicates: number[] }[]): Delivery[] {
  const out: Delivery[] = [];
  devices.forEach((d, device) => {
    const n = d.sizes.length;
    const one = (index: number): Delivery => ({ device, index, size: index < n ? (d.sizes[index] as number) : d.configSize, last: index === n });
    for (let i = 0; i <= n; i++) out.push(one(i));
    for (const k of d.duplicates) out.push(one(k % (n + 1)));
  });
  return out;
}

function payload(device: number, index: number, size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (device * 131 + index * 17 + i) & 0xff);
}

const DUPLICATE: readonly VfioMultifdRefusal[] = ['already-filled', 'already-loaded'];

describe('the reorder queue under an adversarial scheduler (property)', () => {
  test.prop([fc.scheduler(), fc.array(deviceArb, { minLength: 1, maxLength: 4 })], { numRuns: 200 })(
    'with room for everything: every device loads 0 … n in order, duplicates refused, nothing else refused',
    async (s, devices) => {
      const deliveries = deliveriesOf(devices);
      const queues = devices.map((d, i) => new StateBufferQueue({ device: `dev${i}`, maxQueuedBytes: d.sizes.reduce((a, b) => a + b, 0) + d.configSize }));
      const loaded: number[][] = devices.map(() => []);
      const controller = new AbortController();
      const drains = queues.map((q, device) =>
        q.drain(async (b) => {
          await s.schedule(Promise.resolve(), `write dev${device}#${b.index}`);
          expect(Buffer.from(b.data).equals(Buffer.from(payload(device, b.index, b.data.length)))).toBe(true);
          loaded[device]!.push(b.index);
        }, controller.signal),
      );
      const refusals: VfioMultifdError[] = [];
      const puts = deliveries.map((d) =>
        s
          .schedule(Promise.resolve(), `deliver dev${d.device}#${d.index}`)
          .then(() => queues[d.device]!.put(d.index, payload(d.device, d.index, d.size), d.last))
          .catch((e: unknown) => {
            expect(e).toBeInstanceOf(VfioMultifdError);
            refusals.push(e as VfioMultifdError);
          }),
      );
      await s.waitFor(Promise.all([...puts, ...drains]));
      devices.forEach((d, i) => {
        expect(loaded[i]).toEqual(Array.from({ length: d.sizes.length + 1 }, (_, k) => k));
        expect(queues[i]!.queuedBytes).toBe(0);
      });
      const duplicates = devices.reduce((n, d) => n + d.duplicates.length, 0);
      expect(refusals.length).toBe(duplicates);
      for (const r of refusals) expect(DUPLICATE).toContain(r.refusal);
    },
  );

  test.prop([fc.scheduler(), fc.array(deviceArb, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 200 })], { numRuns: 200 })(
    'with any cap: the bytes held never exceed it, loads are in order, and a buffer is refused only when it could not fit',
    async (s, devices, cap) => {
      const deliveries = deliveriesOf(devices);
      const queues = devices.map((_, i) => new StateBufferQueue({ device: `dev${i}`, maxQueuedBytes: cap }));
      const loaded: number[][] = devices.map(() => []);
      const controller = new AbortController();
      const check = (): void => {
        for (const q of queues) expect(q.queuedBytes).toBeLessThanOrEqual(cap);
      };
      const drains = queues.map((q, device) =>
        q
          .drain(async (b) => {
            check();
            await s.schedule(Promise.resolve(), `write dev${device}#${b.index}`);
            loaded[device]!.push(b.index);
          }, controller.signal)
          .catch((e: unknown) => e),
      );
      const puts = deliveries.map((d) =>
        s
          .schedule(Promise.resolve(), `deliver dev${d.device}#${d.index}`)
          .then(async () => {
            const q = queues[d.device]!;
            try {
              await q.put(d.index, payload(d.device, d.index, d.size), d.last);
            } catch (e) {
              expect(e).toBeInstanceOf(VfioMultifdError);
              const r = e as VfioMultifdError;
              if (r.refusal === 'queue-full') {
                expect(d.size).toBeGreaterThan(0);
                expect(r.message).toContain(`dev${d.device}: queuing state buffer ${d.index} would exceed the size max of ${cap}`);
              } else {
                expect([...DUPLICATE, 'past-config-state', 'not-loaded']).toContain(r.refusal);
              }
            }
            check();
          }),
      );
      await s.waitFor(Promise.all(puts));
      controller.abort(new Error('every multifd channel has closed'));
      const outcomes = await s.waitFor(Promise.all(drains));
      devices.forEach((d, i) => {
        const got = loaded[i] as number[];
        expect(got).toEqual(Array.from({ length: got.length }, (_, k) => k));
        const outcome = outcomes[i];
        if (got.length === d.sizes.length + 1) expect(outcome).toBeUndefined();
        else expect((outcome as VfioMultifdError).refusal).toBe('missing-buffer');
        expect(queues[i]!.peakQueuedBytes).toBeLessThanOrEqual(cap);
      });
    },
  );

  test.prop([fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.nat()), { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 300 })], { numRuns: 300 })(
    'before the load runs, a buffer is queued exactly when the bytes held plus its own stay within the cap',
    async (buffers, cap) => {
      const sizes = buffers.map(([size]) => size);
      const order = buffers.map((_, i) => i).sort((a, b) => (buffers[a]![1] - buffers[b]![1]) || a - b);
      const q = new StateBufferQueue({ device: 'dev', maxQueuedBytes: cap });
      let held = 0;
      for (const index of order) {
        const size = sizes[index] as number;
        const outcome = await q.put(index, new Uint8Array(size), false).then(
          () => 'queued' as const,
          (e: unknown) => e as VfioMultifdError,
        );
        if (held + size <= cap) {
          expect(outcome).toBe('queued');
          held += size;
        } else {
          expect(outcome).toBeInstanceOf(VfioMultifdError);
          expect((outcome as VfioMultifdError).refusal).toBe('queue-full');
        }
        expect(q.queuedBytes).toBe(held);
      }
    },
  );
});

describe('the reorder queue rules, in QEMU words', () => {
  it('an index of UINT32_MAX is invalid', async () => {
    const q = new StateBufferQueue({ device: 'gpu0', maxQueuedBytes: 100 });
    const r = await refusalOf(q.put(0xffffffff, new Uint8Array(1), false));
    expect(r.refusal).toBe('invalid-index');
    expect(r.message).toContain('gpu0: packet index is invalid');
  });

  it('a duplicate is "already filled"; an index the load passed is refused cleanly (QEMU asserts)', async () => {
    const q = new StateBufferQueue({ device: 'gpu0', maxQueuedBytes: 100 });
    await q.put(1, new Uint8Array(3), false);
    const dup = await refusalOf(q.put(1, new Uint8Array(3), false));
    expect(dup.refusal).toBe('already-filled');
    expect(dup.index).toBe(1);
    expect(dup.message).toContain('gpu0: state buffer 1 already filled');
    const controller = new AbortController();
    const loaded: number[] = [];
    const drain = q.drain(async (b) => void loaded.push(b.index), controller.signal);
    await q.put(0, new Uint8Array(2), false);
    await new Promise((r) => setImmediate(r));
    expect(loaded).toEqual([0, 1]);
    const late = await refusalOf(q.put(0, new Uint8Array(2), false));
    expect(late.refusal).toBe('already-loaded');
    expect(late.message).toContain('gpu0: state buffer 0 already loaded (the load is at buffer 2)');
    controller.abort();
    const missing = await refusalOf(drain);
    expect(missing.refusal).toBe('missing-buffer');
    expect(missing.index).toBe(2);
    expect(missing.reason).toBe('TRUNCATED');
    expect(missing.message).toContain('gpu0: state buffer 2 never arrived');
  });

  it('a buffer past the config state, or a second config state, is refused', async () => {
    const q = new StateBufferQueue({ device: 'gpu0', maxQueuedBytes: 100 });
    await q.put(2, new Uint8Array(1), true);
    expect((await refusalOf(q.put(3, new Uint8Array(1), false))).refusal).toBe('past-config-state');
    expect((await refusalOf(q.put(1, new Uint8Array(1), true))).message).toContain('gpu0: config state buffer 1 after the config state buffer 2');
    const q2 = new StateBufferQueue({ device: 'gpu1', maxQueuedBytes: 100 });
    await q2.put(5, new Uint8Array(1), false);
    expect((await refusalOf(q2.put(3, new Uint8Array(1), true))).message).toContain('gpu1: config state buffer 3 comes before state buffer 5');
  });

  it('a buffer that does not fit waits while the load frees bytes, and is refused when only a missing buffer could free them', async () => {
    const q = new StateBufferQueue({ device: 'gpu0', maxQueuedBytes: 10 });
    await q.put(1, new Uint8Array(8), false);
    // The load has not started: no room can come.
    const early = await refusalOf(q.put(2, new Uint8Array(4), false));
    expect(early.refusal).toBe('queue-full');
    expect(early.reason).toBe('INTERNAL');
    expect(early.message).toContain('gpu0: queuing state buffer 2 would exceed the size max of 10');
    let release: () => void = () => undefined;
    const loaded: number[] = [];
    const controller = new AbortController();
    const drain = q.drain(async (b) => {
      loaded.push(b.index);
      if (b.index === 0) await new Promise<void>((r) => (release = r));
    }, controller.signal);
    await q.put(0, new Uint8Array(2), false);
    // 0 is being written and 1 is next: buffer 2 waits for room instead of failing.
    let queued = false;
    const waiting = q.put(2, new Uint8Array(4), false).then(() => (queued = true));
    await new Promise((r) => setImmediate(r));
    expect(queued).toBe(false);
    expect(q.queuedBytes).toBe(10);
    release();
    await waiting;
    expect(q.queuedBytes).toBeLessThanOrEqual(10);
    await q.put(3, new Uint8Array(1), true);
    await drain;
    expect(loaded).toEqual([0, 1, 2, 3]);
    expect(q.finished).toBe(true);
    expect(q.peakQueuedBytes).toBe(10);
  });

  it('close drops the queued buffers and refuses later ones', async () => {
    const q = new StateBufferQueue({ device: 'gpu0', maxQueuedBytes: 100 });
    await q.put(3, new Uint8Array(7), false);
    q.close();
    expect(q.queuedBytes).toBe(0);
    expect((await refusalOf(q.put(4, new Uint8Array(1), false))).refusal).toBe('not-loaded');
  });

  it('the cap must be a positive integer', () => {
    expect(() => new StateBufferQueue({ device: 'x', maxQueuedBytes: 0 })).toThrow(RangeError);
  });
});
