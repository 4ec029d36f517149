/** The inversify wiring of this package: the v2 provider bound to `HANDLER_PROVIDER`. */
import 'reflect-metadata';
import { HANDLER_PROVIDER, type HandlerProvider } from '@savevm/core';
import { ContainerModule } from 'inversify';
import { VfioV2Provider, type VfioV2OptionsFor } from './provider.js';

/**
 * A module binding one {@link VfioV2Provider} to `HANDLER_PROVIDER`. Load it with core's
 * `coreContainerModule` and, for legacy devices, the v1 provider's module; the selector asks
 * v2 (priority 200) before v1 (priority 100).
 */
export function vfioV2ContainerModule(options: VfioV2OptionsFor = {}): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<HandlerProvider>(HANDLER_PROVIDER).toConstantValue(new VfioV2Provider(options) as HandlerProvider);
  });
}
