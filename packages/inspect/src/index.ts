/**
 * `@savevm/inspect`: looks inside any QEMU migration stream held in memory. Every record is
 * reported with its body size, handed over as it is read (`inspectRecords`) or collected
 * (`inspectStream`); bodies are decoded where their format is known — `ram`
 * records, VFIO tags, and FULL sections field by field from the stream's own VMDESCRIPTION —
 * and otherwise delimited by their footer. It reads streams through `@savevm/stream` and
 * knows VFIO's tags through `@savevm/vfio`, so the stream package stays free of devices.
 * @packageDocumentation
 */
export {
  inspectRecords,
  type InspectedRecord,
  type RecordsInspection,
  type InspectOptions,
  InspectInterruptedError,
  RECORDS_PER_TURN,
} from './inspect-records.js';
export { inspectStream, type StreamInspection } from './inspect-stream.js';
export { findTrailingVmdesc, readTrailingVmdesc, type TrailingVmdesc } from './trailing-vmdesc.js';
export { type BodyDecoding } from './body-extent.js';
export { decodeRamBody, type RamBodySummary, type RamBlockInfo } from './ram-body.js';
export { decodeVfioBody, type VfioBodySummary } from './vfio-body.js';
export {
  decodeDeviceBody,
  decodeStruct,
  DecodeBudget,
  type DecodedField,
  type DecodedStruct,
  type DecodedValue,
} from './vmstate-body.js';
