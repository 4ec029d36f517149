/**
 * @savevm/vfio/emulated: the emulated VFIO kernel — a device model with the v2 state machine
 * and the v1 migration region, its DMA engine and dirty tracking, fault injection, and the
 * image format of its state. Tests, benchmarks and the example migrator use it in place of
 * `/dev/vfio`; a VMM on a real host does not need it.
 * @packageDocumentation
 */
export { EmulatedDeviceModel } from './device-model.js';
export type { EmulatedDeviceConfig } from './device-model.js';
export { V1_DATA_OFFSET, V1_REGION_INDEX } from './v1/v1-migration-region.js';
export type { SetStateOutcome } from './v2/v2-state-machine.js';
export type { EmulatedRegion } from './device-regions.js';
export type { EmulatedSession } from './data-session-slot.js';
export type { PreCopyEmptyRead } from './session-data-io.js';
export type { ArcFault, DataFault, IoctlFault, DmaIoctlOp } from './faults/fault-settings.js';
export { EmulatedDmaEngine } from './dma-engine.js';
export type { DmaEngineConfig } from './dma-engine.js';
export { EmulatedDmaWriter } from './dma-writer.js';
export type { DmaWriterOptions } from './dma-writer.js';
export { EmulatedDmaLog } from './dma-log.js';
export type { LogRangeRequest, LoggedSpan } from './dma-log.js';
export { DmaMappingTable } from './dma-mappings.js';
export type { DmaMapping } from './dma-mappings.js';
export type { DmaTarget } from './dma-target.js';
export { EmulatedUserMemory } from './user-memory.js';
export type { UserMemoryLookup } from './user-memory.js';
export { EmulatedVfioKernel } from './kernel.js';
export type { EmulatedDeviceNode } from './kernel.js';
export { createEmulatedDevice } from './create.js';
export type { EmulatedDeviceSetup } from './create.js';
export { DeviceStateBytes, Xorshift32, fillFromSeed } from './device-state.js';
export type { DirtyListener } from './device-state.js';
export { SaveSession } from './save-session.js';
export { ResumeSession } from './resume-session.js';
export { crc32 } from './checksum.js';
export {
  IMAGE_HEADER_SIZE,
  RECORD_HEADER_SIZE,
  TAG_PAGE,
  TAG_DONE,
  encodeImageHeader,
  encodeRecordHeader,
} from './image-format.js';
