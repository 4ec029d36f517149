/**
 * Loading a vmstate body into a state object: read it all (checking versions, lengths
 * and subsections), then apply it. A body that cannot be read leaves the state untouched.
 */
import type { QemuFileReader } from '@savevm/stream';
import { applyVmState } from './apply.js';
import { decodeVmState } from './decode.js';
import type { VmStateDescription } from './description.js';

/**
 * Reads a body laid out by `description`, sent with `versionId`, into `state`.
 * @throws VmStateLoadError naming the description, the field and the versions
 */
export async function loadVmState<S>(r: QemuFileReader, description: VmStateDescription<S>, state: S, versionId: number): Promise<void> {
  const decoded = await decodeVmState(r, description as VmStateDescription<unknown>, versionId);
  await applyVmState(decoded, state as object, r.offset);
}
