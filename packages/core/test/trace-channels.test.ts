/** The core trace-point helper: one channel per name, published only while someone listens. */
import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { TraceChannels } from '../src/tracing/trace-channels.js';

interface TestPayloads {
  test_trace_channels_a: { readonly n: number };
  test_trace_channels_b: { readonly s: string };
}

const names = { test_trace_channels_a: 'test_trace_channels_a', test_trace_channels_b: 'test_trace_channels_b' } as const;

describe('TraceChannels', () => {
  it('publishes on the named channel only while someone listens', () => {
    const channels = new TraceChannels<TestPayloads>(names);
    const seen: unknown[] = [];
    const listener = (message: unknown): void => {
      seen.push(message);
    };
    expect(channels.isTracing('test_trace_channels_a')).toBe(false);
    channels.publish('test_trace_channels_a', { n: 1 });
    diagnosticsChannel.subscribe('test_trace_channels_a', listener);
    try {
      expect(channels.isTracing('test_trace_channels_a')).toBe(true);
      expect(channels.isTracing('test_trace_channels_b')).toBe(false);
      channels.publish('test_trace_channels_a', { n: 2 });
      channels.publish('test_trace_channels_b', { s: 'not heard' });
    } finally {
      diagnosticsChannel.unsubscribe('test_trace_channels_a', listener);
    }
    channels.publish('test_trace_channels_a', { n: 3 });
    expect(seen).toEqual([{ n: 2 }]);
  });

  it('refuses a name it was not built with', () => {
    const channels = new TraceChannels<TestPayloads>(names);
    expect(() => channels.isTracing('nope' as keyof TestPayloads)).toThrow(RangeError);
  });
});
