/** The inversify wiring of this package: the v1 provider bound to `HANDLER_PROVIDER`. */
import 'reflect-metadata';
import { HANDLER_PROVIDER, type HandlerProvider } from '@savevm/core';
import { ContainerModule } from 'inversify';
import { VfioV1Provider, type VfioV1ProviderOptions } from './provider.js';

/**
 * A module binding one {@link VfioV1Provider} to `HANDLER_PROVIDER`. Load it with core's
 * `coreContainerModule` and the v2 provider's binding; the selector asks v2 (priority 200)
 * before v1 (priority 100).
 */
export function vfioV1ContainerModule(options: VfioV1ProviderOptions = {}): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<HandlerProvider>(HANDLER_PROVIDER).toConstantValue(new VfioV1Provider(options) as HandlerProvider);
  });
}
