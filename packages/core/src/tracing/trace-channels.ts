/**
 * The one way savevm's packages publish trace points: a set of `node:diagnostics_channel`
 * channels, one per event (named after QEMU's trace event), each with a typed payload.
 * Subscribe with `diagnostics_channel.subscribe(name, fn)`. Publishing costs nothing when
 * nobody listens.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

/** The channel names of a set of trace points: each event's name, mapped to itself. */
export type TracePointNames<Payloads> = { readonly [K in keyof Payloads & string]: K };

/** A set of trace points whose payloads `Payloads` types, event by event. */
export class TraceChannels<Payloads> {
  readonly #channels = new Map<string, diagnosticsChannel.Channel>();

  /** @param names every event's channel name (a `const` object: name → name) */
  constructor(names: TracePointNames<Payloads>) {
    for (const name of Object.values<string>(names)) this.#channels.set(name, diagnosticsChannel.channel(name));
  }

  /** Whether anyone listens on `point` (check before building a costly payload). */
  isTracing(point: keyof Payloads & string): boolean {
    return this.#channel(point).hasSubscribers;
  }

  /** Publishes `payload` on `point`'s channel when someone listens. */
  publish<K extends keyof Payloads & string>(point: K, payload: Payloads[K]): void {
    const channel = this.#channel(point);
    if (channel.hasSubscribers) channel.publish(payload);
  }

  #channel(point: string): diagnosticsChannel.Channel {
    const channel = this.#channels.get(point);
    if (channel === undefined) throw new RangeError(`unknown trace point ${point}`);
    return channel;
  }
}
