// bench/experiments/slow-link-rate.mjs: what the session benchmarks' relay (bench/lib/slow-link.mjs)
// moves on its own: 128 MiB written as fast as a process can (64 KiB writes, or 1 MiB with
// SIZE=1M) through the relay at BENCH_LINK_MBPS (default 100) into a process that only counts.
import * as net from 'node:net';
import * as path from 'node:path';
import { parseBytes } from '../lib/common.mjs';
import { scratchDir, startSlowLink } from '../lib/session-run.mjs';

const chunk = Buffer.alloc(parseBytes(process.env.SIZE ?? '64K'));
const total = 128 * 2 ** 20;
const { dir, cleanup } = scratchDir('link-rate');
const dst = path.join(dir, 'dst.sock');
const link = path.join(dir, 'link.sock');
let got = 0;
let started = 0;
const finished = new Promise((resolve) => {
  const server = net.createServer((s) => {
    s.on('data', (c) => (got += c.length));
    s.on('end', () => resolve(server.close()));
  });
  server.listen(dst);
});
const relay = await startSlowLink(link, dst, Number(process.env.BENCH_LINK_MBPS ?? 100) * 1e6);
const client = net.connect(link, () => {
  started = performance.now();
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      sent += chunk.length;
      if (!client.write(chunk)) return void client.once('drain', pump);
    }
    client.end();
  };
  pump();
});
await finished;
const seconds = (performance.now() - started) / 1000;
console.log(`${got} bytes in ${seconds.toFixed(2)} s: ${(got / seconds / 1e6).toFixed(1)} MB/s`);
relay.stop();
cleanup();
