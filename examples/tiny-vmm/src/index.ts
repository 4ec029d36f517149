/**
 * `@savevm/tiny-vmm`: a tiny VMM embedding savevm, to copy from. Three devices — a clock
 * described declaratively, guest RAM with hand-written live handlers, an emulated VFIO device
 * attached through the v2 provider — a guest that quiesces with the VM, a digest section the
 * destination checks, and two processes that migrate the VM between them. See
 * `docs/embedding-in-a-vmm.md`.
 * @packageDocumentation
 */
export { type RtcState, createRtcState, rtcVmState, rtcVmStateV1 } from './devices/rtc.js';
export { GuestRam, RamTag, RAM_PAGE_SIZE } from './devices/guest-ram.js';
export { type EmulatedGpu, GPU_STATE_SIZE, openEmulatedGpu } from './devices/gpu.js';
export { Guest, GUEST_RUN_STATE_PRIORITY, type GuestDevices } from './guest.js';
export { DigestSection, DigestMismatchError, DIGEST_IDSTR, DIGEST_VERSION, sha256 } from './state-digest.js';
export { TinyVm, RAM_PAGES, type TinyVmOptions } from './tiny-vm.js';
export { runSource } from './source.js';
export { runDestination, type DestinationOptions } from './destination.js';
export { ExitCode } from './exit-code.js';
export { runPair, type PairMode, type PairResult, type VmmRun, type VmmRole } from './pair.js';
