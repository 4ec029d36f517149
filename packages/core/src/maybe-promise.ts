/** Telling a hook's (or a channel's) synchronous result from a promise, so synchronous calls cost no microtask. */

/** Whether `value` is a thenable that must be awaited. */
export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
