// multifd-loopback: the same migration as multifd-ram-capped, uncapped, over tcp:127.0.0.1
// (no namespaces): 4 multifd channels against 1 for 1 GiB (BENCH_BYTES) of guest RAM
// (@savevm/ram, a paused VM, every fourth page zero). One untimed warm-up of each arm, then
// BENCH_MULTIFD_RUNS (default 3) alternating runs, medians; MB/s as in the capped ones.
// Goal: ratio ≥ 1.0 (parallel channels never cost throughput). The device's twin is
// multifd-loopback-device.mjs (a script of its own, so each has run.mjs's whole timeout).
import { runLoopback } from './lib/multifd-loopback.mjs';

await runLoopback({ name: 'multifd.loopback', kind: 'ram', what: 'guest RAM (paused VM)' });
