/**
 * Many callers' single-key lookups made into one query per batch: keys asked for within `ms` go in
 * one call, at most `max` each. For what every connecting user needs read: their presence targets
 * (src/actors/user-presence.ts) and their account's age for the rate limits (src/server/front.ts).
 * A burst of 15,000 connections made 15,000 queries of each (about 5 KiB of RSS per idle
 * connection on the embedded database in the connections bench for the ages alone), now 15.
 */
export function batched<K, V>(load: (keys: K[]) => Promise<Map<K, V>>, ms = 5, max = 1000): (key: K) => Promise<V | undefined> {
  let waiting = new Map<K, Array<{ resolve: (v: V | undefined) => void; reject: (e: unknown) => void }>>();
  let timer: NodeJS.Timeout | null = null;
  const flush = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    const batch = waiting;
    waiting = new Map();
    load([...batch.keys()]).then(
      (found) => {
        for (const [k, list] of batch) for (const w of list) w.resolve(found.get(k));
      },
      (err: unknown) => {
        for (const list of batch.values()) for (const w of list) w.reject(err);
      },
    );
  };
  return (key) =>
    new Promise<V | undefined>((resolve, reject) => {
      const list = waiting.get(key);
      if (list) list.push({ resolve, reject });
      else waiting.set(key, [{ resolve, reject }]);
      if (waiting.size >= max) flush();
      else timer ??= setTimeout(flush, ms);
    });
}

/**
 * `batched` with one batcher per store (per thread: each shard opens its own), made on first use:
 * for actors, which reach the store through their context rather than hold a batcher themselves.
 */
export function batchedPerStore<S extends object, K, V>(
  load: (store: S, keys: K[]) => Promise<Map<K, V>>,
  ms?: number,
): (store: S, key: K) => Promise<V | undefined> {
  const batchers = new WeakMap<S, (key: K) => Promise<V | undefined>>();
  return (store, key) => {
    let b = batchers.get(store);
    if (b === undefined) batchers.set(store, (b = batched((keys: K[]) => load(store, keys), ms)));
    return b(key);
  };
}
