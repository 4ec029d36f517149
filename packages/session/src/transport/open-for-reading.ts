/**
 * Opening a `file:` destination's path without blocking the event loop: `open(2)` of a FIFO
 * waits until a writer opens it too, so it runs in libuv's thread pool, and a destination
 * told to stop (SIGINT, an abort) stops at once instead of waiting for a writer that never
 * comes (`docs/design/hostile-input.md`, signals and endless input).
 */
import * as fs from 'node:fs';

/** How often, and how many times, a stopped open of a FIFO is released. */
const RELEASE_EVERY_MS = 10;
const RELEASE_TRIES = 100;

/** An open under way. */
export interface PendingOpen {
  /** The descriptor, once opened; rejects with the open's error, or with ECANCELED once cancelled. */
  readonly opened: Promise<number>;
  /** Stops waiting: `opened` rejects, and a descriptor that opens later is closed. */
  cancel(): void;
}

/** Starts opening `path` for reading. */
export function openForReading(path: string): PendingOpen {
  let settled = false;
  let cancelled = false;
  let stop!: (err: Error) => void;
  const opened = new Promise<number>((resolve, reject) => {
    stop = reject;
    fs.open(path, 'r', (err, fd) => {
      settled = true;
      if (cancelled) {
        if (err === null) fs.close(fd, () => undefined);
      } else if (err === null) resolve(fd);
      else reject(err);
    });
  });
  return {
    opened,
    cancel: () => {
      if (settled || cancelled) return;
      cancelled = true;
      stop(Object.assign(new Error('stopped waiting for a writer'), { code: 'ECANCELED' }));
      releaseFifo(path, () => settled, RELEASE_TRIES);
    },
  };
}

/**
 * A thread-pool thread blocked opening a FIFO for reading returns once a writer opens it:
 * opens it for writing without blocking (ENXIO until the reader's open is in the kernel,
 * so it tries again a few times) and closes that at once. Nothing is written.
 */
function releaseFifo(path: string, done: () => boolean, tries: number): void {
  if (done() || tries === 0) return;
  let fifo: boolean;
  try {
    fifo = fs.statSync(path).isFIFO();
  } catch {
    return;
  }
  if (!fifo) return;
  fs.open(path, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK, (err, fd) => {
    if (err === null) fs.close(fd, () => undefined);
    if (!done()) setTimeout(() => releaseFifo(path, done, tries - 1), RELEASE_EVERY_MS).unref();
  });
}
