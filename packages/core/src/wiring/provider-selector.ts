import { messageOf } from '../errors.js';
import { type HandlerProvider, type ProbeVerdict } from './handler-provider.js';
import { NoHandlerProviderError } from './no-handler-provider-error.js';

/** One provider's verdict on a device. */
export interface ProviderVerdict {
  /** The provider's name. */
  readonly provider: string;
  /** Its verdict. */
  readonly verdict: ProbeVerdict;
}

export { NoHandlerProviderError };

/** The provider that accepted, with every verdict gathered on the way. */
export interface ProviderSelection<Device> {
  /** The accepting provider. */
  readonly provider: HandlerProvider<Device>;
  /** Verdicts of the providers asked, the last one being the acceptance. */
  readonly verdicts: readonly ProviderVerdict[];
}

/**
 * Picks the provider for a device: asks every bound `HANDLER_PROVIDER` in descending
 * priority (binding order for ties) and takes the first that accepts.
 */
export class ProviderSelector {
  /** The providers in the order they are asked. */
  readonly providers: readonly HandlerProvider[];

  /** @param providers every provider bound to `HANDLER_PROVIDER` */
  constructor(providers: readonly HandlerProvider[] | undefined) {
    this.providers = (providers ?? [])
      .map((p, i) => ({ p, i }))
      .sort((a, b) => b.p.priority - a.p.priority || a.i - b.i)
      .map(({ p }) => p);
  }

  /**
   * Probes in order and returns the first acceptance.
   * @param device the device to migrate
   * @param describe names the device in the error (default `String(device)`)
   * @throws NoHandlerProviderError listing every provider's reason when none accepts
   */
  async select<Device>(device: Device, describe: string = String(device)): Promise<ProviderSelection<Device>> {
    const verdicts: ProviderVerdict[] = [];
    for (const provider of this.providers as readonly HandlerProvider<Device>[]) {
      let verdict: ProbeVerdict;
      try {
        verdict = await provider.probe(device);
      } catch (err) {
        verdict = { accepted: false, reason: `probe failed: ${messageOf(err)}` };
      }
      verdicts.push({ provider: provider.name, verdict });
      if (verdict.accepted) return { provider, verdicts };
    }
    throw new NoHandlerProviderError(describe, verdicts);
  }
}
