// multifd-ram-capped: 1 GiB (BENCH_BYTES) of guest RAM (@savevm/ram: GuestRam with one
// block, registerRam; a paused VM, so one pass; every fourth page zero) migrated between two
// processes in two network namespaces whose veth link caps EACH TCP flow at BENCH_FLOW_MBIT
// (default 400 Mbit/s): 4 multifd channels against 1, QEMU 10.0's stream (zero pages as
// offsets in the packets), one untimed 4-channel warm-up, then alternating runs
// (BENCH_MULTIFD_RUNS, default 2), medians;
// MB/s = 10^6 RAM bytes per second of the source's `session.migrate(uri)`.
// The cap: bench/lib/netns.mjs. Goal: ratio ≥ 3.0.
import { runCapped } from './lib/multifd-capped.mjs';

await runCapped({ name: 'multifd.ram-1GiB-capped', kind: 'ram', what: 'guest RAM (paused VM, a quarter zero pages)' });
