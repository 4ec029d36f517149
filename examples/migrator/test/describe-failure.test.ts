import { MigrationCancelledError, MigrationError } from '@savevm/core';
import { TransportError } from '@savevm/session';
import { describe, expect, it } from 'vitest';
import { describeFailure } from '../src/output/describe-failure.js';

describe('describeFailure: one line naming the device and the phase, with the reason alongside', () => {
  it('a transport error names the transport and its step (it is a MigrationError too)', () => {
    const err = new TransportError({ uri: 'tcp:h:1', phase: 'tls', detail: 'the destination refused this side\'s certificate' });
    expect(describeFailure(err)).toEqual({
      line: "FAILED (transport tcp:h:1, phase tls): the destination refused this side's certificate",
      device: undefined,
      phase: 'tls',
      reason: 'TLS_REFUSED',
    });
  });

  it('a migration error names the device, the phase and the byte once', () => {
    const err = new MigrationError({
      phase: 'load-dispatch',
      reason: 'VERSION_TOO_NEW',
      detail: "unsupported version 3 for 'gpu0' v2",
      entry: { idstr: 'gpu0', instanceId: 0 },
      offset: 120,
    });
    const d = describeFailure(err, (idstr) => `emulated:${idstr}`);
    expect(d.line).toBe("FAILED (device emulated:gpu0, phase load-dispatch, byte 120): unsupported version 3 for 'gpu0' v2");
    expect(d.reason).toBe('VERSION_TOO_NEW');
    expect(d.line.split('\n')).toHaveLength(1);
  });

  it('a cancel', () => {
    expect(describeFailure(new MigrationCancelledError('iterate'))).toMatchObject({ phase: 'iterate', reason: 'CANCELLED' });
  });

  it('anything else has no reason', () => {
    expect(describeFailure(new Error('odd'))).toEqual({ line: 'FAILED: odd', device: undefined, phase: undefined });
  });
});
