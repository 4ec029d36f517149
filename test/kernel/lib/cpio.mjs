// cpio.mjs — writes a newc ("070701") cpio archive, the format the kernel unpacks as an
// initramfs. Written in JS rather than with cpio(1) so the archive can hold device nodes
// (/dev/console) and root-owned files without running as root, and so it is deterministic.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** Streams entries into a newc archive at `path`. Call {@link CpioWriter.finish} at the end. */
export class CpioWriter {
  #fd;
  #ino = 1;
  #offset = 0;
  /** Number of entries written so far. */
  entries = 0;

  constructor(path) {
    this.#fd = openSync(path, 'w');
  }

  /** Bytes written so far. */
  get size() {
    return this.#offset;
  }

  /** A directory. */
  dir(name, mode = 0o755) {
    this.#entry(name, S_IFDIR | mode, 0, 2, 0, 0);
  }

  /** A symbolic link `name` → `target`. */
  symlink(name, target) {
    const data = Buffer.from(target);
    this.#entry(name, S_IFLNK | 0o777, data.length, 1, 0, 0);
    this.#write(data);
    this.#pad();
  }

  /** A character device node. */
  charDevice(name, major, minor, mode = 0o600) {
    this.#entry(name, S_IFCHR | mode, 0, 1, major, minor);
  }

  /** A regular file with `data` (Buffer or string). */
  file(name, data, mode = 0o644) {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
    this.#entry(name, S_IFREG | mode, bytes.length, 1, 0, 0);
    this.#write(bytes);
    this.#pad();
  }

  /** A regular file copied from the host path `source` (streamed, size known up front). */
  fileFrom(name, source, size, mode) {
    this.#entry(name, S_IFREG | (mode & 0o7777), size, 1, 0, 0);
    const fd = openSync(source, 'r');
    try {
      const chunk = Buffer.allocUnsafe(1 << 20);
      let left = size;
      while (left > 0) {
        const n = readSync(fd, chunk, 0, Math.min(chunk.length, left), null);
        if (n === 0) throw new Error(`${source} shrank while being archived`);
        this.#write(chunk.subarray(0, n));
        left -= n;
      }
    } finally {
      closeSync(fd);
    }
    this.#pad();
  }

  /** Writes the trailer and closes the file. */
  finish() {
    this.#entry('TRAILER!!!', 0, 0, 1, 0, 0, 0);
    closeSync(this.#fd);
  }

  #entry(name, mode, size, nlink, rdevMajor, rdevMinor, ino = this.#ino++) {
    const nameBytes = Buffer.from(`${name.replace(/^\/+/, '')}\0`);
    const hex = (n) => (n >>> 0).toString(16).padStart(8, '0');
    const header =
      '070701' +
      hex(ino) + hex(mode) + hex(0) + hex(0) + hex(nlink) + hex(0) + hex(size) +
      hex(0) + hex(0) + hex(rdevMajor) + hex(rdevMinor) + hex(nameBytes.length) + hex(0);
    this.#write(Buffer.from(header, 'ascii'));
    this.#write(nameBytes);
    this.#pad();
    this.entries++;
  }

  #write(bytes) {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.#fd, bytes, done, bytes.length - done);
    this.#offset += bytes.length;
  }

  #pad() {
    const rem = this.#offset % 4;
    if (rem !== 0) this.#write(Buffer.alloc(4 - rem));
  }
}
