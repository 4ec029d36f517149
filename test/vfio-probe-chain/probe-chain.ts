/**
 * The VFIO probe chain as one inversify module: the v2 provider (priority 200, VFIO_DEVICE_FEATURE
 * GET MIGRATION with STOP_COPY) and the v1 provider (priority 100, the deprecated migration
 * region) bound to core's `HANDLER_PROVIDER`. With core's module loaded, the selector asks v2,
 * then v1; when neither accepts, the attacher throws (or, with `attachOrBlock`, installs a
 * migration blocker) with both reasons.
 *
 * It lives here, not in `@savevm/vfio-v1-legacy`, so that v1 never depends on v2 at runtime.
 * A VMM (the migrator) can use this factory as it is, or load the two packages' own modules,
 * `vfioV2ContainerModule()` and `vfioV1ContainerModule()`, which bind the same providers.
 */
import 'reflect-metadata';
import { HANDLER_PROVIDER, type HandlerProvider } from '@savevm/core';
import { VfioV1Provider, type VfioV1ProviderOptions } from '@savevm/vfio-v1-legacy';
import { VfioV2Provider, type VfioV2OptionsFor } from '@savevm/vfio-v2';
import { ContainerModule } from 'inversify';

/** Options of {@link vfioProvidersModule}. */
export interface VfioProvidersOptions {
  /** Options of the v2 provider. */
  readonly v2?: VfioV2OptionsFor;
  /** Options of the v1 provider. */
  readonly v1?: VfioV1ProviderOptions;
}

/** A module binding the v2 and v1 VFIO providers to `HANDLER_PROVIDER`. */
export function vfioProvidersModule(options: VfioProvidersOptions = {}): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<HandlerProvider>(HANDLER_PROVIDER).toConstantValue(new VfioV2Provider(options.v2 ?? {}) as HandlerProvider);
    bind<HandlerProvider>(HANDLER_PROVIDER).toConstantValue(new VfioV1Provider(options.v1 ?? {}) as HandlerProvider);
  });
}
