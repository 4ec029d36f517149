import { fstatSync } from 'node:fs';

/**
 * Whether an inherited descriptor is a socket (an `fd:` URI with a way back, so QEMU's
 * return path can run on it).
 * @throws the `fstat` error when the descriptor is not open
 */
export function isSocketFd(fd: number): boolean {
  return fstatSync(fd).isSocket();
}
