// multifd-device-capped: an emulated VFIO v2 device whose stop-copy state is 1 GiB
// (BENCH_BYTES), migrated by @savevm/vfio-v2's handlers between two processes in two network
// namespaces whose veth link caps EACH TCP flow at BENCH_FLOW_MBIT (default 400 Mbit/s):
// 4 multifd channels against 1, QEMU 10.0's stream (the device's stop-copy state in
// device-state packets on the channels at switchover, `multifdTransfer` 'auto'), one untimed
// 4-channel warm-up, then alternating runs (BENCH_MULTIFD_RUNS, default 2), medians;
// MB/s = 10^6 bytes of device state per second of the source's `session.migrate(uri)` (its
// end comes with the destination's SHUT). The device: bench/lib/multifd-peer.mjs. The cap:
// bench/lib/netns.mjs. Goal: ratio ≥ 3.0.
import { runCapped } from './lib/multifd-capped.mjs';

await runCapped({ name: 'multifd.device-1GiB-capped', kind: 'device', what: 'VFIO device state (emulated device, @savevm/vfio-v2, stop-copy only, on the channels at switchover)' });
