/**
 * Typed errors of this package. A failed syscall is a {@link VfioSyscallError} (its errno
 * name, the number, the syscall, the ioctl or operation, and the device); anything else that
 * goes wrong while talking to VFIO is a {@link VfioError}. This package is below the
 * migration layer: when one of its errors surfaces through a migration it is the `cause` of a
 * `MigrationError` (see `docs/design/errors.md`).
 */
import { constants } from 'node:os';

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}
// Linux gives ENOTSUP and EOPNOTSUPP one value; the kernel's own code says EOPNOTSUPP.
errnoNames.set(constants.errno.EOPNOTSUPP, 'EOPNOTSUPP');

/** Errno values this package relies on (Linux numbering). */
export const Errno = {
  /** Operation not permitted (e.g. no access to the VFIO node). */
  EPERM: constants.errno.EPERM,
  /** No such file or directory (a missing sysfs entry or device node). */
  ENOENT: constants.errno.ENOENT,
  /** I/O error; also the fallback for system errors without an errno. */
  EIO: constants.errno.EIO,
  /** Bad file descriptor (the fd was closed or never opened). */
  EBADF: constants.errno.EBADF,
  /** Try again: a non-blocking data_fd has no data yet. */
  EAGAIN: constants.errno.EAGAIN,
  /** Out of memory (a driver could not stage or accept state). */
  ENOMEM: constants.errno.ENOMEM,
  /** Bad address passed to the kernel. */
  EFAULT: constants.errno.EFAULT,
  /** Device or resource busy (e.g. the group is already in use). */
  EBUSY: constants.errno.EBUSY,
  /** Already exists. */
  EEXIST: constants.errno.EEXIST,
  /** No such device: the data_fd's session ended (state left, reset, device error). */
  ENODEV: constants.errno.ENODEV,
  /** Invalid argument: bad argsz or flags, an unsupported target state or a blocked arc. */
  EINVAL: constants.errno.EINVAL,
  /** Too many open files in the process. */
  EMFILE: constants.errno.EMFILE,
  /** Inappropriate ioctl: the device has no migration (or logging) support, or no PRE_COPY info. */
  ENOTTY: constants.errno.ENOTTY,
  /** Illegal seek: the data_fd is a stream, so pread/pwrite and lseek fail. */
  ESPIPE: constants.errno.ESPIPE,
  /** No message: in PRE_COPY the stream is at a temporary end; more data may follow. */
  ENOMSG: constants.errno.ENOMSG,
  /** Argument list too long: too many DMA logging ranges. */
  E2BIG: constants.errno.E2BIG,
  /** Value too large: a DMA logging range overflows. */
  EOVERFLOW: constants.errno.EOVERFLOW,
  /** Permission denied: dirty-page tracking on a container that is not type1v2. */
  EACCES: constants.errno.EACCES,
  /** No space left: the container's DMA mapping limit is reached. */
  ENOSPC: constants.errno.ENOSPC,
  /** Operation not supported: an iommufd flag or field value the kernel does not support (no dirty tracking). */
  EOPNOTSUPP: constants.errno.EOPNOTSUPP,
} as const;

/** Symbolic name of an errno value (`ENOTTY`…), or `E<n>` when unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** Errno value of a Node system error's `code` (e.g. from fs), or EIO when it has none. */
export function errnoOfNodeError(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const value = (constants.errno as Readonly<Record<string, number>>)[code];
    if (value !== undefined) return value;
  }
  return Errno.EIO;
}

/** Where an error happened: the device (name or path) and the operation. */
export interface ErrorContext {
  /** Device name, sysfs path or node path; `undefined` when no device is involved. */
  readonly device?: string | undefined;
  /** Operation: the ioctl name (`VFIO_DEVICE_FEATURE SET MIG_DEVICE_STATE`), or e.g. `open`. */
  readonly op: string;
}

/**
 * Base class of every error this package throws. `errno` is always a name (`EINVAL`), as on
 * every error of savevm (`docs/design/errors.md`).
 */
export class VfioError extends Error {
  /** Device the operation was for, if any. */
  readonly device: string | undefined;
  /** The operation that failed. */
  readonly op: string;
  /** The errno name (`EINVAL`, `ENOTTY`…) when the kernel refused, else undefined. */
  readonly errno: string | undefined;
  /**
   * Creates the error; the message is prefixed with the device and operation.
   * @param options the error underneath (`cause`), and the errno name (`errno`) when the
   * kernel's answer is what the error is about
   */
  constructor(message: string, context: ErrorContext, options?: { readonly cause?: unknown; readonly errno?: string | undefined }) {
    super(`${context.device !== undefined ? `${context.device}: ` : ''}${context.op}: ${message}`, options !== undefined && 'cause' in options ? { cause: options.cause } : undefined);
    this.name = 'VfioError';
    this.device = context.device;
    this.op = context.op;
    this.errno = options?.errno;
  }
}

/** A syscall (ioctl, open, read, write, …) failed with an errno. */
export class VfioSyscallError extends VfioError {
  /** The errno name, e.g. `ENOTTY`. */
  declare readonly errno: string;
  /** The errno value (positive), for callers that compare numbers ({@link isErrno} takes both). */
  readonly errnoNumber: number;
  /** Node-style alias of {@link errno}. */
  readonly code: string;
  /** The syscall: `ioctl`, `open`, `read`, `write`, `pread`, `pwrite`, `close`. */
  readonly syscall: string;
  /** Creates the error. @param errno the errno value (positive), as the syscall returned it */
  constructor(errno: number, syscall: string, context: ErrorContext) {
    const name = errnoName(errno);
    super(`${syscall} failed with ${name} (${errno})`, context, { errno: name });
    this.name = 'VfioSyscallError';
    this.errnoNumber = errno;
    this.code = name;
    this.syscall = syscall;
  }
}

/** Whether `error` is a {@link VfioSyscallError} with the given errno (by value or name). */
export function isErrno(error: unknown, errno: number | string): boolean {
  if (!(error instanceof VfioSyscallError)) return false;
  return typeof errno === 'number' ? error.errnoNumber === errno : error.errno === errno;
}
