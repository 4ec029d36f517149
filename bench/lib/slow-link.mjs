// A slow link for the session benchmarks (not a benchmark itself), run as its own process:
//   node bench/lib/slow-link.mjs LISTEN_SOCKET TARGET_SOCKET BYTES_PER_SEC
// Accepts connections on the unix socket LISTEN_SOCKET and relays each to TARGET_SOCKET. It
// reads what the source sends no faster than BYTES_PER_SEC (it stops reading, so the kernel's
// socket buffer fills and the source's writes wait, as on a slow network); what comes back
// (the return path) is relayed as it arrives. Prints "ready" on stdout once listening.
import * as fs from 'node:fs';
import * as net from 'node:net';

const [listenPath, targetPath, rateText] = process.argv.slice(2);
const bytesPerSec = Number(rateText);
if (!listenPath || !targetPath || !(bytesPerSec > 0)) {
  console.error('usage: slow-link.mjs LISTEN_SOCKET TARGET_SOCKET BYTES_PER_SEC');
  process.exit(2);
}

/** How far ahead of the rate the relay may read before it pauses (timers are coarser than a 64 KiB read). */
const AHEAD_MS = 4;
/** How much unused time the relay may make up for with a burst: a link's idle time is lost, not saved up. */
const BURST_MS = 4;

/** Reads `from` at no more than `bytesPerSec` into `to`, honouring `to`'s back-pressure. */
function throttle(from, to) {
  // The time at which what was read so far has crossed the link.
  let crossed = performance.now();
  let waiting = false;
  from.on('data', (chunk) => {
    const now = performance.now();
    crossed = Math.max(crossed, now - BURST_MS) + (chunk.length / bytesPerSec) * 1000;
    const ok = to.write(chunk);
    const aheadMs = crossed - now;
    if (aheadMs > AHEAD_MS || !ok) {
      from.pause();
      if (waiting) return;
      waiting = true;
      const resume = () => {
        waiting = false;
        from.resume();
      };
      const afterTime = () => (to.writableNeedDrain ? to.once('drain', resume) : resume());
      if (aheadMs > AHEAD_MS) setTimeout(afterTime, aheadMs);
      else to.once('drain', resume);
    }
  });
  from.on('end', () => to.end());
}

fs.rmSync(listenPath, { force: true });
const server = net.createServer((source) => {
  const dest = net.connect(targetPath);
  source.pause();
  dest.once('connect', () => {
    throttle(source, dest);
    source.resume();
    dest.pipe(source);
  });
  const down = () => {
    source.destroy();
    dest.destroy();
  };
  source.on('error', down);
  dest.on('error', down);
  source.on('close', () => dest.end());
  dest.on('close', () => source.end());
});
server.listen(listenPath, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => {
  server.close();
  fs.rmSync(listenPath, { force: true });
  process.exit(0);
});
