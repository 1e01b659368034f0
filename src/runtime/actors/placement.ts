/**
 * Where an actor lives: `shardOf(kind, id, shards)`, a 32-bit FNV-1a hash of the kind and id
 * (UTF-16 code units, so it needs no encoder) modulo the shard count. Stable across runs and
 * threads for a given shard count; every thread computes it the same way, so there is no
 * directory to keep in step.
 */
function hashKey(kind: string, id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < kind.length; i++) {
    h ^= kind.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= 0x1f; // separator, so ("ab", "c") and ("a", "bc") differ
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function shardOf(kind: string, id: string, shards: number): number {
  return hashKey(kind, id) % shards;
}

/** The registry key of an actor inside its shard. */
export function actorKey(kind: string, id: string): string {
  return `${kind}\u001f${id}`;
}
