/** Fault helpers for ioctls the emulated device cannot fail by itself, and error-chain lookups. */
import { RunStateChangeError } from '@savevm/core';
import { Errno, VfioSyscallError, type VfioDevice } from '@savevm/vfio';

/** Device methods that are one ioctl each. */
export type IoctlMethod = 'getStopCopySize' | 'getPrecopyInfo' | 'getMigrationFlags' | 'getState';

/** A handle whose `method` fails with `errno` (while `active()` says so), like the kernel would. */
export function failingIoctl(device: VfioDevice, method: IoctlMethod, errno: number, active: () => boolean = () => true): VfioDevice {
  return new Proxy(device, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === method) {
        return (...args: unknown[]) => {
          if (active()) throw new VfioSyscallError(errno, 'ioctl', { device: target.name, op: `faulty ${method}` });
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

/** Every error reachable from `err` through `cause`, `failures` and `suppressed`. */
export function errorChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  const visit = (e: unknown): void => {
    if (e === undefined || e === null || out.includes(e)) return;
    out.push(e);
    if (e instanceof RunStateChangeError) for (const f of e.failures) visit(f.error);
    if (e instanceof Error) visit((e as { cause?: unknown }).cause);
    const suppressed = (e as { suppressed?: unknown[] }).suppressed;
    if (Array.isArray(suppressed)) for (const s of suppressed) visit(s);
  };
  visit(err);
  return out;
}

/** The first error of class `cls` in `err`'s chain. */
export function findInChain<T>(err: unknown, cls: abstract new (...args: never[]) => T): T | undefined {
  return errorChain(err).find((e): e is T => e instanceof cls);
}

/** Errnos by name, for test titles. */
export const E = Errno;
