import { INSTANCE_ID_ANY, MAX_IDSTR_LENGTH } from '@savevm/stream';
import type { SaveVMHandlers } from '../handlers.js';
import { RegistrationError } from './registration-error.js';
import { SaveStateEntry } from './save-state-entry.js';

/** Options of {@link SaveStateRegistry.register}. */
export interface RegisterOptions {
  /** Oldest stream version `loadState` accepts (QEMU `minimum_version_id`; default 0). */
  minimumVersionId?: number;
  /**
   * Ordering priority (QEMU's `MigrationPriority`): higher runs first in every save and
   * load loop; registration order inside a priority. Default 0 (`MIG_PRI_DEFAULT`).
   */
  priority?: number;
}

export { RegistrationError };

function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RegistrationError(`${name} ${v} is not a u32`);
}

/**
 * The list of save-state entries (QEMU's `savevm_state.handlers`), sorted by priority
 * (highest first) and FIFO inside a priority; every save and load loop walks it in this
 * order.
 */
export class SaveStateRegistry {
  private readonly entries: SaveStateEntry[] = [];
  /** idstr → instance id → entry (QEMU `find_se` without string building). */
  private readonly byIdstr = new Map<string, Map<number, SaveStateEntry>>();
  private snapshot: readonly SaveStateEntry[] | undefined;
  private nextSectionId = 0;
  private nextOrder = 0;

  /**
   * Registers an entry (QEMU `register_savevm_live`).
   *
   * @param idstr section identifier sent on the wire (≤ 255 bytes)
   * @param instanceId an explicit instance id, or `INSTANCE_ID_ANY` for 1 + the largest
   *   instance id registered under `idstr` (0 when there is none); gaps are not filled
   * @param versionId the newest version this entry writes and accepts
   * @param handlers the hooks
   * @returns the entry; its section id comes from a counter at registration time
   * @throws RegistrationError on a duplicate (idstr, instance id) pair or bad ids
   */
  register(
    idstr: string,
    instanceId: number,
    versionId: number,
    handlers: SaveVMHandlers,
    options: RegisterOptions = {},
  ): SaveStateEntry {
    if (idstr.length === 0) throw new RegistrationError('idstr must not be empty');
    if (Buffer.byteLength(idstr, 'utf8') > MAX_IDSTR_LENGTH) {
      throw new RegistrationError(`idstr "${idstr.slice(0, 40)}…" is longer than ${MAX_IDSTR_LENGTH} bytes`);
    }
    checkU32('version id', versionId);
    const minimumVersionId = options.minimumVersionId ?? 0;
    checkU32('minimum version id', minimumVersionId);
    if (minimumVersionId > versionId) {
      throw new RegistrationError(`${idstr}: minimum version ${minimumVersionId} is above version ${versionId}`);
    }
    checkU32('instance id', instanceId);
    const resolved = instanceId === INSTANCE_ID_ANY ? this.nextInstanceId(idstr) : instanceId;
    if (this.find(idstr, resolved)) {
      throw new RegistrationError(`savevm entry "${idstr}" instance ${resolved} is already registered`);
    }
    const priority = options.priority ?? 0;
    const entry = new SaveStateEntry(
      idstr,
      resolved,
      versionId,
      minimumVersionId,
      this.nextSectionId++,
      priority,
      handlers,
      this.nextOrder++,
    );
    this.insert(entry);
    return entry;
  }

  private nextInstanceId(idstr: string): number {
    let max = -1;
    for (const id of this.byIdstr.get(idstr)?.keys() ?? []) if (id > max) max = id;
    const next = max + 1;
    if (next >= INSTANCE_ID_ANY) throw new RegistrationError(`no instance id left for "${idstr}"`);
    return next;
  }

  private insert(entry: SaveStateEntry): void {
    // Before the first entry of lower priority: stable, FIFO within a priority.
    let i = this.entries.length;
    while (i > 0 && (this.entries[i - 1] as SaveStateEntry).priority < entry.priority) i--;
    this.entries.splice(i, 0, entry);
    let instances = this.byIdstr.get(entry.idstr);
    if (!instances) this.byIdstr.set(entry.idstr, (instances = new Map()));
    instances.set(entry.instanceId, entry);
    this.snapshot = undefined;
  }

  /**
   * Removes an entry (QEMU `unregister_savevm`). A migration already running keeps the
   * list it started with.
   * @returns whether it was registered
   */
  unregister(entry: SaveStateEntry): boolean {
    const i = this.entries.indexOf(entry);
    if (i < 0) return false;
    this.entries.splice(i, 1);
    const instances = this.byIdstr.get(entry.idstr);
    instances?.delete(entry.instanceId);
    if (instances?.size === 0) this.byIdstr.delete(entry.idstr);
    this.snapshot = undefined;
    return true;
  }

  /** The entry registered as (idstr, instance id), if any (QEMU `find_se`). */
  find(idstr: string, instanceId: number): SaveStateEntry | undefined {
    return this.byIdstr.get(idstr)?.get(instanceId);
  }

  /** The entries in list order; an immutable snapshot (safe to keep during a migration). */
  list(): readonly SaveStateEntry[] {
    this.snapshot ??= Object.freeze(this.entries.slice());
    return this.snapshot;
  }

  /** Number of registered entries. */
  get size(): number {
    return this.entries.length;
  }
}
