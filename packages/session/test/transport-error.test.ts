import { MigrationError } from '@savevm/core';
import { describe, expect, it } from 'vitest';
import { TransportError, openOutgoing, type TransportPhase } from '../src/index.js';
import { parseMigrationUri } from '../src/transport/migration-uri.js';

describe('TransportError is a MigrationError with a reason from its phase', () => {
  it.each([
    ['uri', 'INVALID_ARGUMENT'],
    ['options', 'INVALID_ARGUMENT'],
    ['listen', 'CONNECT_FAILED'],
    ['connect', 'CONNECT_FAILED'],
    ['tls', 'TLS_REFUSED'],
    ['exec', 'CONNECT_FAILED'],
    ['transfer', 'TIMEOUT'],
  ] as const)('%s → %s', (phase: TransportPhase, reason) => {
    const err = new TransportError({ uri: 'tcp:h:1', phase, detail: 'what happened' });
    expect(err).toBeInstanceOf(MigrationError);
    expect(err.reason).toBe(reason);
    expect(err.phase).toBe(phase);
  });

  it('keeps its fields and its message; errno only from an errno-like code', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const refused = new TransportError({ uri: 'tcp:h:1', phase: 'connect', detail: 'cannot connect', cause });
    expect(refused.name).toBe('TransportError');
    expect(refused.message).toBe('tcp:h:1: connect: cannot connect');
    expect(refused.uri).toBe('tcp:h:1');
    expect(refused.detail).toBe('cannot connect');
    expect(refused.code).toBe('ECONNREFUSED');
    expect(refused.errno).toBe('ECONNREFUSED');
    expect(refused.cause).toBe(cause);
    const tls = new TransportError({ uri: 'tcp:h:1', phase: 'tls', detail: 'bad name', code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect(tls.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(tls.errno).toBeUndefined();
    expect(new TransportError({ uri: 'rdma:x', phase: 'uri', detail: 'unknown transport' }).message).toBe('rdma:x: invalid URI: unknown transport');
  });

  it('a reason given overrides the phase', () => {
    expect(new TransportError({ uri: 'exec:x', phase: 'exec', detail: 'no pipe', reason: 'INTERNAL' }).reason).toBe('INTERNAL');
  });

  it('from the transports: a bad URI is INVALID_ARGUMENT, a refused connection CONNECT_FAILED', async () => {
    expect(() => parseMigrationUri('rdma:host:1')).toThrow(expect.objectContaining({ reason: 'INVALID_ARGUMENT' }));
    const err = await openOutgoing('tcp:127.0.0.1:1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ phase: 'connect', reason: 'CONNECT_FAILED' });
  });
});
