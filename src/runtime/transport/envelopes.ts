/**
 * Envelopes carried by the rings between worker threads (front → shard, shard → front,
 * shard → shard), packed with msgpackr. The ring a record arrives on says which thread sent it, so
 * no envelope carries its sender thread; `from` is the sending actor, when there is one.
 */
import type { WireError } from './codec.js';

/** An actor's address: its kind and its id within the kind. */
export interface ActorRef {
  kind: string;
  id: string;
}

/** Fire and forget; ordered with every other envelope from the same thread to the same actor. */
export interface TellEnvelope {
  type: 'tell';
  kind: string;
  id: string;
  msg: unknown;
  from?: ActorRef;
  /** Dropped unless the actor is active: news that matters only to an actor holding state now. */
  ifActive?: true;
}

/** A request; the shard answers with one ReplyEnvelope carrying the same `req`. */
export interface AskEnvelope {
  type: 'ask';
  kind: string;
  id: string;
  msg: unknown;
  req: number;
  from?: ActorRef;
}

/** Stop (passivate) an actor: a message like the rest, so it stays ordered with them. */
export interface StopEnvelope {
  type: 'stop';
  kind: string;
  id: string;
}

export interface ReplyOkEnvelope {
  type: 'reply';
  req: number;
  ok: true;
  value: unknown;
}

export interface ReplyErrorEnvelope {
  type: 'reply';
  req: number;
  ok: false;
  error: WireError;
}

/** A raw message from an actor to a front thread (fan-out to sockets). */
export interface PostEnvelope {
  type: 'post';
  msg: unknown;
}

export type ActorEnvelope = TellEnvelope | AskEnvelope | StopEnvelope;
export type ReplyEnvelope = ReplyOkEnvelope | ReplyErrorEnvelope;
export type Envelope = ActorEnvelope | ReplyEnvelope | PostEnvelope;
