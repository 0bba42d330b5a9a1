import { MongoNetworkError, MongoServerSelectionError } from 'mongodb';
import { StoreUnavailableError } from '../monitor/store-unavailable-error';

/** MongoDB driver errors that mean "the server can't be reached right now". */
export function isMongoOutage(err: unknown): boolean {
  return err instanceof MongoNetworkError || err instanceof MongoServerSelectionError;
}

/**
 * `store` (a RunStore, an AuditStore, …) whose methods reject with {@link StoreUnavailableError} (message kept,
 * driver error as `cause`) where `isOutage` recognises the driver's transport failure; every other error passes
 * through unchanged. Every MongoDB-backed store is wrapped with it, so the HTTP edge answers 503, not 500.
 */
export function withStoreErrors<T extends object>(store: T, isOutage: (err: unknown) => boolean): T {
  const translate = (err: unknown) =>
    isOutage(err) ? new StoreUnavailableError((err as Error).message, { cause: err }) : err;
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const out = value.apply(target, args);
        return out instanceof Promise
          ? out.catch((err: unknown) => {
              throw translate(err);
            })
          : out;
      };
    },
  });
}
