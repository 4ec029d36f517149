/** The inversify service identifiers of `@savevm/core`. */

/** Multi-injected: every bound `HandlerProvider` (bind one per device kind). */
export const HANDLER_PROVIDER = Symbol.for('savevm.HandlerProvider');
/** The `SaveStateRegistry` singleton. */
export const SAVE_STATE_REGISTRY = Symbol.for('savevm.SaveStateRegistry');
/** The `RunStateController` singleton. */
export const RUN_STATE_CONTROLLER = Symbol.for('savevm.RunStateController');
/** The `MigrationBlockers` singleton. */
export const MIGRATION_BLOCKERS = Symbol.for('savevm.MigrationBlockers');
/** The `DeviceEvents` singleton (QMP-style events of the attached devices). */
export const DEVICE_EVENTS = Symbol.for('savevm.DeviceEvents');
/** The `MigrationNotifiers` singleton. */
export const MIGRATION_NOTIFIERS = Symbol.for('savevm.MigrationNotifiers');
/** The `MigrationClock` (default: the system clock). */
export const MIGRATION_CLOCK = Symbol.for('savevm.MigrationClock');
/** The `MigrationSource` singleton. */
export const MIGRATION_SOURCE = Symbol.for('savevm.MigrationSource');
/** The `MigrationDestination` singleton. */
export const MIGRATION_DESTINATION = Symbol.for('savevm.MigrationDestination');
/** The `ProviderSelector` singleton. */
export const PROVIDER_SELECTOR = Symbol.for('savevm.ProviderSelector');
/** The `DeviceMigrationAttacher` singleton. */
export const DEVICE_MIGRATION_ATTACHER = Symbol.for('savevm.DeviceMigrationAttacher');
