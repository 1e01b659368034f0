/**
 * Store metrics: every call of a `Store` method is one operation of its kind (select, insert,
 * update, delete: from the method's name, so the label is never input), counted with its duration;
 * and the pools' connections, read at each collection. Store calls are per batch or per request,
 * not per delivered message, so a wrapper per call is affordable here.
 */
import type pg from 'pg';
import { toChatError } from '../errors.js';
import { countFailure, dbConnectionsActive, dbConnectionsMax, dbConnectionsTotal, dbDuration, dbOperations, onCollect } from './index.js';

const KINDS: [RegExp, string][] = [
  [/^(create|insert|add|record|copy|audit)/, 'insert'],
  [/^(update|touch|rotate|revoke|apply|set|mark|move|pin|unpin|edit|rename|upsert)/, 'update'],
  [/^(delete|remove|clear|purge|prune)/, 'delete'],
];
const NOT_OPERATIONS = new Set(['close', 'constructor', 'then']);

export function kindOf(method: string): string {
  for (const [re, kind] of KINDS) if (re.test(method)) return kind;
  return 'select';
}

/** The same store, its methods counted and timed. */
export function instrumentStore<T extends object>(store: T): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      let w = wrapped.get(prop);
      if (w !== undefined) return w;
      if (typeof prop !== 'string' || NOT_OPERATIONS.has(prop)) {
        // Still called on the store itself: its methods use private fields, which a Proxy lacks.
        w = (value as (...args: unknown[]) => unknown).bind(target);
      } else {
        const operation = { operation: kindOf(prop) };
        const fn = value as (...args: unknown[]) => unknown;
        w = function (this: unknown, ...args: unknown[]) {
          const started = performance.now();
          const done = () => {
            dbOperations.inc(operation);
            dbDuration.observe(operation, (performance.now() - started) / 1000);
          };
          const out = fn.apply(target, args);
          if (out instanceof Promise) {
            out.then(done, (e: unknown) => {
              done();
              if (toChatError(e).code === 'internal') countFailure('database');
            });
          } else done();
          return out;
        };
      }
      wrapped.set(prop, w);
      return w;
    },
  });
}

const pools = new Set<pg.Pool>();
let watching = false;

/** Count a pool's connections in `chat_db_connections_*` (until it ends). */
export function watchPool(pool: pg.Pool): void {
  pools.add(pool);
  if (watching) return;
  watching = true;
  onCollect(() => {
    let total = 0;
    let idle = 0;
    let max = 0;
    for (const p of pools) {
      if (p.ended) {
        pools.delete(p);
        continue;
      }
      total += p.totalCount;
      idle += p.idleCount;
      max += p.options.max ?? 10;
    }
    dbConnectionsTotal.set(total);
    dbConnectionsActive.set(total - idle);
    dbConnectionsMax.set(max);
  });
}
