// multifd-loopback-device: the same migration as multifd-device-capped, uncapped, over
// tcp:127.0.0.1 (no namespaces): 4 multifd channels against 1 for an emulated VFIO v2
// device whose stop-copy state is 1 GiB (BENCH_BYTES), migrated by @savevm/vfio-v2's
// handlers with QEMU 10.0's stream (the state on the channels at switchover). One untimed
// warm-up of each arm, then BENCH_MULTIFD_RUNS (default 3) alternating runs, medians; MB/s
// = 10^6 bytes of device state per second of the source's `session.migrate(uri)`.
// The device: bench/lib/multifd-peer.mjs. Goal: ratio ≥ 1.0.
import { runLoopback } from './lib/multifd-loopback.mjs';

await runLoopback({ name: 'multifd.loopback.device', kind: 'device', what: 'VFIO device state (emulated device, @savevm/vfio-v2, stop-copy only)' });
