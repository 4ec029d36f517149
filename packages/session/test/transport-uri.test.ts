import { describe, expect, it } from 'vitest';
import { TransportError, openOutgoing, listenIncoming } from '../src/index.js';
import { formatMigrationUri, parseMigrationUri } from '../src/transport/migration-uri.js';

describe('parseMigrationUri', () => {
  it('reads every scheme', () => {
    expect(parseMigrationUri('tcp:127.0.0.1:4444')).toEqual({ scheme: 'tcp', host: '127.0.0.1', port: 4444 });
    expect(parseMigrationUri('tcp:[::1]:0')).toEqual({ scheme: 'tcp', host: '::1', port: 0 });
    expect(parseMigrationUri('tcp::4444')).toEqual({ scheme: 'tcp', host: '', port: 4444 });
    expect(parseMigrationUri('unix:/tmp/s.sock')).toEqual({ scheme: 'unix', path: '/tmp/s.sock' });
    expect(parseMigrationUri('file:/tmp/a:b.mig')).toEqual({ scheme: 'file', path: '/tmp/a:b.mig' });
    expect(parseMigrationUri('fd:7')).toEqual({ scheme: 'fd', fd: 7 });
    expect(parseMigrationUri('exec:gzip -c > x.gz')).toEqual({ scheme: 'exec', command: 'gzip -c > x.gz' });
  });

  it('writes URIs back', () => {
    for (const uri of ['tcp:[::1]:5', 'tcp:h:1', 'unix:/s', 'file:/f', 'fd:3', 'exec:cat']) {
      expect(formatMigrationUri(parseMigrationUri(uri))).toBe(uri);
    }
  });

  it('refuses an unknown scheme with a message listing the known ones', () => {
    const err = (() => {
      try {
        parseMigrationUri('rdma:host:1');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).phase).toBe('uri');
    expect((err as TransportError).message).toBe(
      'rdma:host:1: invalid URI: unknown transport "rdma"; use one of tcp:, unix:, file:, fd:, exec:',
    );
  });

  it.each([
    ['tcp:host', /expected tcp:HOST:PORT/],
    ['tcp:host:99999', /not a port number/],
    ['tcp:::1:4', /IPv6 address in brackets/],
    ['fd:x', /descriptor number/],
    ['file:', /expected file:PATH/],
    ['exec: ', /expected exec:COMMAND/],
    ['nothing', /unknown transport "nothing"/],
  ])('refuses %s', (uri, message) => {
    expect(() => parseMigrationUri(uri)).toThrow(message);
  });

  it('refuses TLS on transports that are not network ones, on both sides', async () => {
    const tls = { cert: '', key: '', ca: '' };
    await expect(openOutgoing('file:/tmp/x', { tls })).rejects.toThrow(/TLS needs a network transport/);
    await expect(listenIncoming('exec:cat', { tls })).rejects.toThrow(/TLS needs a network transport/);
  });
});
