/**
 * The devices' VFIO_MIGRATION events (QEMU 9.1's QMP event) as JSON lines, on both sides:
 * `{"event":"vfio-migration","device":"emulated:nic0","idstr":"nic0/vfio","state":"stop-copy"}`
 * at each change of a device's migration state. JSON mode only: a terminal keeps its one
 * progress line, and the summary gives each device's final state (docs/embedding-in-a-vmm.md §10).
 */
import type { Subscription } from 'rxjs';
import { isVfioMigrationEvent } from '@savevm/vfio-v2';
import type { DeviceSet } from '../devices/device-set.js';
import type { CliEvents } from './cli-events.js';

/** Writes a `vfio-migration` line for each VFIO_MIGRATION event of the set's devices; nothing outside JSON mode. */
export function showDeviceEvents(devices: DeviceSet, events: CliEvents): Subscription | undefined {
  if (!events.isJson) return undefined;
  return devices.session.deviceEvents$.subscribe((event) => {
    if (!isVfioMigrationEvent(event)) return;
    const attached = devices.byName(event.device);
    events.json({
      event: 'vfio-migration',
      device: attached?.device.label ?? event.device,
      idstr: attached?.entry.idstr ?? null,
      state: event.data['device-state'],
    });
  });
}
