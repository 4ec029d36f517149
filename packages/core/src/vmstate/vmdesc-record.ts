/**
 * The link between a declarative entry's `saveState` and the vmdesc JSON the source
 * driver writes after EOF: `saveState` records what it just wrote; the driver asks for
 * it right after the hook returns, and describes the section field by field instead of
 * as one opaque buffer.
 */
import type { VmdescStruct } from '@savevm/stream';
import type { SaveVMHandlers } from '../handlers.js';

const lastSaved = new WeakMap<SaveVMHandlers, VmdescStruct>();

/** Records the vmdesc description of the body `handlers.saveState` just wrote. */
export function recordSavedVmdesc(handlers: SaveVMHandlers, description: VmdescStruct): void {
  lastSaved.set(handlers, description);
}

/** Forgets the recorded description (at the start of a save, so a failed save leaves none). */
export function forgetSavedVmdesc(handlers: SaveVMHandlers): void {
  lastSaved.delete(handlers);
}

/**
 * The vmdesc description of the body `handlers.saveState` last wrote, when the handlers
 * describe themselves (declarative entries); undefined for hand-written handlers.
 */
export function savedVmdescOf(handlers: SaveVMHandlers): VmdescStruct | undefined {
  return lastSaved.get(handlers);
}
