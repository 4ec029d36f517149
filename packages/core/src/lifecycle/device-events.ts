import { type Observable, Subject } from 'rxjs';

/** A value of a device event's member (QAPI scalars). */
export type DeviceEventValue = string | number | boolean | null;

/**
 * One event a device reports, shaped like a QMP event: its name and its members by their
 * QAPI names (e.g. `VFIO_MIGRATION` with `device-id`, `qom-path`, `device-state`).
 */
export interface DeviceEvent {
  /** The event's name, as QMP spells it (e.g. `VFIO_MIGRATION`). */
  readonly event: string;
  /** The name the device was attached under. */
  readonly device: string;
  /** The event's members, by their QAPI names. */
  readonly data: Readonly<Record<string, DeviceEventValue>>;
}

/**
 * The VM's device events, as QMP sends them to a management application: devices emit
 * them while they are attached, the VMM subscribes to `events$`. Events are pushed as they
 * happen, in order, and never replayed (see `docs/embedding-in-a-vmm.md` §10).
 */
export class DeviceEvents {
  readonly #subject = new Subject<DeviceEvent>();

  /** Every event from now on. */
  get events$(): Observable<DeviceEvent> {
    return this.#subject.asObservable();
  }

  /** Pushes one event to every subscriber. */
  emit(event: DeviceEvent): void {
    this.#subject.next(event);
  }
}
