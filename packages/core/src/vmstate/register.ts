/**
 * Turning a description and a state object into save-state handlers, and registering
 * them: the declarative route to a non-live (SECTION_FULL) entry.
 */
import { INSTANCE_ID_ANY, type QemuFileReader, type QemuFileWriter } from '@savevm/stream';
import type { SaveVMHandlers } from '../handlers.js';
import type { SaveStateRegistry } from '../registry/registry.js';
import type { SaveStateEntry } from '../registry/save-state-entry.js';
import { defineVmState, type VmStateDescription } from './description.js';
import { loadVmState } from './load.js';
import { saveVmState } from './save.js';
import { forgetSavedVmdesc, recordSavedVmdesc } from './vmdesc-record.js';

/** The handlers of a declarative entry: `saveState` and `loadState`, nothing live. */
export interface VmStateHandlers extends SaveVMHandlers {
  /** Writes the state (QEMU `vmstate_save`) and records its vmdesc description. */
  saveState(f: QemuFileWriter): Promise<void>;
  /** Reads the state sent with `versionId` (QEMU `vmstate_load`). */
  loadState(f: QemuFileReader, versionId: number): Promise<void>;
}

/**
 * Handlers that save and load `state` laid out by `description`. Use them directly when
 * you register the entry yourself (or return them from a `HandlerProvider`); the vmdesc
 * describes the section field by field.
 * @throws VmStateDefinitionError when the description is wrong
 */
export function vmStateHandlers<S>(description: VmStateDescription<S>, state: S): VmStateHandlers {
  defineVmState(description);
  const handlers: VmStateHandlers = {
    async saveState(f: QemuFileWriter): Promise<void> {
      forgetSavedVmdesc(handlers);
      recordSavedVmdesc(handlers, await saveVmState(f, description, state));
    },
    async loadState(f: QemuFileReader, versionId: number): Promise<void> {
      await loadVmState(f, description, state, versionId);
    },
  };
  return handlers;
}

/** Options of {@link registerVmState}. */
export interface RegisterVmStateOptions {
  /** The section idstr (default: the description's name, as QEMU's `vmstate_register`). */
  readonly idstr?: string;
  /** An explicit instance id (default `INSTANCE_ID_ANY`: the next free one for the idstr). */
  readonly instanceId?: number;
  /** Ordering priority in the save and load lists (default 0). */
  readonly priority?: number;
}

/**
 * Registers `state`, laid out by `description`, as a non-live entry (QEMU
 * `vmstate_register`): version and minimum version come from the description; the
 * section is written as SECTION_FULL after all live data, and loaded back into `state`.
 * @returns the entry (unregister it with `registry.unregister(entry)`)
 * @throws VmStateDefinitionError when the description is wrong; RegistrationError on a duplicate
 */
export function registerVmState<S>(
  registry: SaveStateRegistry,
  description: VmStateDescription<S>,
  state: S,
  options: RegisterVmStateOptions = {},
): SaveStateEntry {
  const handlers = vmStateHandlers(description, state);
  return registry.register(options.idstr ?? description.name, options.instanceId ?? INSTANCE_ID_ANY, description.version, handlers, {
    minimumVersionId: description.minimumVersion ?? 0,
    ...(options.priority !== undefined ? { priority: options.priority } : {}),
  });
}
