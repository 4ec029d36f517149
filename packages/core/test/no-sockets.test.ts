/**
 * Core holds the contract, the registry, the drivers, run state and status; it opens no
 * connection. Every transport lives in @savevm/session.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
}

describe('@savevm/core opens no sockets', () => {
  it('no module of core imports node:net, node:tls, node:dgram or node:child_process', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(20);
    const offending = files.filter((f) => /from\s+['"](node:)?(net|tls|dgram|child_process)['"]/.test(readFileSync(f, 'utf8')));
    expect(offending).toEqual([]);
  });
});
