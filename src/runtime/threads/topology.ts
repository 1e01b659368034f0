/**
 * Who talks to whom. Threads are numbered as "peers": fronts 0..F-1, then shards F..F+S-1. Fronts
 * talk to every shard; shards talk to every front and every other shard; fronts never talk to each
 * other (fan-out to sockets goes shard → front). One ring per ordered pair that talks.
 */
export type Role = 'front' | 'shard';

export interface ThreadRef {
  role: Role;
  index: number;
}

export class Topology {
  readonly fronts: number;
  readonly shards: number;

  constructor(fronts: number, shards: number) {
    if (!Number.isInteger(fronts) || fronts < 0 || !Number.isInteger(shards) || shards < 1) {
      throw new RangeError(`bad topology: ${fronts} fronts, ${shards} shards`);
    }
    this.fronts = fronts;
    this.shards = shards;
  }

  get size(): number {
    return this.fronts + this.shards;
  }

  peerOf(ref: ThreadRef): number {
    const count = ref.role === 'front' ? this.fronts : this.shards;
    if (!Number.isInteger(ref.index) || ref.index < 0 || ref.index >= count) {
      throw new RangeError(`no ${ref.role} ${ref.index} (there are ${count})`);
    }
    return ref.role === 'front' ? ref.index : this.fronts + ref.index;
  }

  frontPeer(index: number): number {
    return this.peerOf({ role: 'front', index });
  }

  shardPeer(index: number): number {
    return this.peerOf({ role: 'shard', index });
  }

  refOf(peer: number): ThreadRef {
    if (peer < this.fronts) return { role: 'front', index: peer };
    return { role: 'shard', index: peer - this.fronts };
  }

  /** True when `a` and `b` exchange envelopes over a pair of rings. */
  linked(a: number, b: number): boolean {
    return a !== b && (a >= this.fronts || b >= this.fronts);
  }

  /** The peers `peer` has rings with, in peer order. */
  peersOf(peer: number): number[] {
    const out: number[] = [];
    for (let p = 0; p < this.size; p++) if (this.linked(peer, p)) out.push(p);
    return out;
  }

  describe(peer: number): string {
    const ref = this.refOf(peer);
    return `${ref.role} ${ref.index}`;
  }
}
