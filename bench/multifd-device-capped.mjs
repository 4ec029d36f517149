// multifd-device-capped: a 1 GiB (BENCH_BYTES) emulated device's stop-copy state migrated
// between two processes in two network namespaces whose veth link caps EACH TCP flow at
// BENCH_FLOW_MBIT (default 400 Mbit/s): 4 multifd channels against 1, QEMU 10.0's stream
// (device state in device-state packets on the channels at switchover), alternating runs
// (BENCH_MULTIFD_RUNS, default 2), medians; MB/s = 10^6 device bytes per second of the
// source's `session.migrate(uri)` (its end comes with the destination's SHUT).
// The device: bench/lib/multifd-device.mjs (1 MiB buffers, reordered on the destination by
// the load work switchoverStart starts). The cap: bench/lib/netns.mjs. Goal: ratio ≥ 3.0.
import { runCapped } from './lib/multifd-capped.mjs';

await runCapped({ name: 'multifd.device-1GiB-capped', kind: 'device', what: 'device state (stop-copy, on the channels at switchover)' });
