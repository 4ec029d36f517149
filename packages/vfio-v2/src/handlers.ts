/**
 * The `SaveVMHandlers` of one VFIO v2 device: the save hooks call the {@link DeviceSaver},
 * the load hooks the {@link DeviceLoader}. `saveState` exists only with a config-state hook,
 * so without one no SECTION_FULL is written. The multifd hooks (`saveCompletePrecopyThread`,
 * `loadStateBuffer`, `switchoverStart`) act only when the device's state travels on the
 * channels (docs/design/multifd.md §4).
 */
import type { EntryRef, SaveStateEntryInfo, SaveVMHandlers } from '@savevm/core';
import type { DeviceLoader } from './load/device-loader.js';
import type { VfioConfigStateHook } from './options.js';
import type { DeviceSaver } from './save/device-saver.js';

function refOf(entry: SaveStateEntryInfo): EntryRef {
  return { idstr: entry.idstr, instanceId: entry.instanceId };
}

/** Builds the handler table of one device. */
export function createVfioV2Handlers(saver: DeviceSaver, loader: DeviceLoader, configState: VfioConfigStateHook | undefined): SaveVMHandlers {
  const handlers: SaveVMHandlers = {
    saveSetup: (f, entry, context) => saver.setup(f, refOf(entry), context),
    statePendingEstimate: () => saver.pendingEstimate(),
    statePendingExact: () => saver.pendingExact(),
    isActiveIterate: () => saver.isActiveIterate(),
    saveLiveIterate: (f, entry) => saver.iterate(f, refOf(entry)),
    saveLiveCompletePrecopy: (f, entry) => saver.completePrecopy(f, refOf(entry)),
    saveCompletePrecopyThread: (sender, entry, signal) => saver.completePrecopyThread(sender, refOf(entry), signal),
    saveCleanup: (entry) => saver.cleanup(refOf(entry)),
    loadSetup: (_f, context) => loader.setup(context),
    loadState: (f, _versionId, entry) => loader.loadState(f, refOf(entry)),
    loadCleanup: (entry, outcome) => loader.cleanup(refOf(entry), outcome),
    switchoverAckNeeded: () => loader.switchoverAckNeeded(),
    loadStateBuffer: (data, entry, context) => loader.loadStateBuffer(data, refOf(entry), context),
    switchoverStart: (_entry, context) => loader.switchoverStart(context),
  };
  if (configState === undefined) return handlers;
  return { ...handlers, saveState: (f) => saver.saveConfig(f, configState) };
}
