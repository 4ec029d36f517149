/**
 * Step 5 of the template: plugging the device into the wiring, exactly as the VFIO
 * handlers do. A `HandlerProvider` says whether it can migrate a device (`probe`) and
 * describes the migration (`create`); binding it to `HANDLER_PROVIDER` lets the core's
 * `DeviceMigrationAttacher` pick it and register the entry.
 */
import 'reflect-metadata';
import { HANDLER_PROVIDER, type DeviceMigrationSpec, type HandlerProvider, type ProbeVerdict } from '@savevm/core';
import { ContainerModule } from 'inversify';
import { Scratchpad } from './scratchpad.js';
import { SCRATCHPAD_MINIMUM_VERSION, SCRATCHPAD_VERSION, ScratchpadMigration } from './scratchpad-migration.js';

/** Makes scratchpads migratable. */
export class ScratchpadProvider implements HandlerProvider {
  /** Shown in messages. */
  readonly name = 'scratchpad';
  /** Asked after providers with a higher priority (the VFIO ones use theirs). */
  readonly priority = 0;

  /** Accepts scratchpads only, saying why not otherwise. */
  probe(device: unknown): ProbeVerdict {
    return device instanceof Scratchpad
      ? { accepted: true, reason: `${device} is a scratchpad` }
      : { accepted: false, reason: 'not a scratchpad' };
  }

  /** One entry per device; its idstr names the device as a qdev path would. */
  create(device: unknown): DeviceMigrationSpec {
    if (!(device instanceof Scratchpad)) throw new TypeError('ScratchpadProvider.create: not a scratchpad');
    return {
      idstr: `${device.id}/scratchpad`,
      versionId: SCRATCHPAD_VERSION,
      minimumVersionId: SCRATCHPAD_MINIMUM_VERSION,
      handlers: new ScratchpadMigration(device),
    };
  }
}

/** Binds {@link ScratchpadProvider} to `HANDLER_PROVIDER`; load it next to `coreContainerModule`. */
export const scratchpadContainerModule = new ContainerModule(({ bind }) => {
  bind<HandlerProvider>(HANDLER_PROVIDER).toConstantValue(new ScratchpadProvider());
});
