/**
 * The three ways the kernel tracks pages a VFIO device wrote by DMA, and the typed refusal a
 * probe returns when one is absent (docs/design/vfio-dirty-tracking.md §4).
 */
import { VfioError } from '../errors.js';

/** A DMA dirty-tracking mechanism. */
export type DmaDirtyMechanism =
  /** The device logs its own DMA writes (`VFIO_DEVICE_FEATURE` DMA_LOGGING_START/REPORT/STOP). */
  | 'device-dma-logging'
  /** The type1 container's dirty bitmap (`VFIO_IOMMU_DIRTY_PAGES`, UNMAP_DMA with GET_DIRTY_BITMAP). */
  | 'type1-container'
  /** An iommufd hardware page table with dirty tracking (`IOMMU_HWPT_SET_DIRTY_TRACKING`, GET_DIRTY_BITMAP). */
  | 'iommufd-hwpt';

/** Each mechanism in words, for messages. */
export const DMA_DIRTY_MECHANISM_NAMES: Readonly<Record<DmaDirtyMechanism, string>> = {
  'device-dma-logging': 'device DMA logging',
  'type1-container': 'type1 container dirty tracking',
  'iommufd-hwpt': 'iommufd HWPT dirty tracking',
};

/**
 * A mechanism is not there: what the probe asked, and why the answer means "absent" (the
 * errno when the kernel refused, or the capability that was missing). Returned by probes,
 * not thrown.
 */
export class DirtyTrackingUnsupported extends VfioError {
  /** The mechanism that is absent. */
  readonly mechanism: DmaDirtyMechanism;
  /** Why, in words (without the device and operation prefix). */
  readonly why: string;

  /**
   * @param mechanism the absent mechanism
   * @param why why the probe's answer means "absent"
   * @param context the device (or container) and the probing operation
   * @param errno the errno name, when the kernel refused
   */
  constructor(mechanism: DmaDirtyMechanism, why: string, context: { readonly device?: string | undefined; readonly op: string }, errno?: string) {
    super(`${DMA_DIRTY_MECHANISM_NAMES[mechanism]} is not available: ${why}`, context, { errno });
    this.name = 'DirtyTrackingUnsupported';
    this.mechanism = mechanism;
    this.why = why;
  }
}

/** What a probe found: the mechanism with what it said, or the refusal. */
export type DirtyTrackingProbe<Detail> =
  | {
      /** The mechanism is there. */
      readonly supported: true;
      /** What the probe learnt (page sizes, limits…). */
      readonly detail: Detail;
    }
  | {
      /** The mechanism is absent. */
      readonly supported: false;
      /** Why. */
      readonly refusal: DirtyTrackingUnsupported;
    };
