/**
 * A user was kicked or banned from a room: its RoomActor publishes `member_left` to the room's
 * subscribers, then posts `member_removed` to every front. Each front takes that user's sockets
 * off the room's topic (the room counts them down: one `detach` each), and tells the user's
 * sockets that did not hear it on the topic (not subscribed, or a join or resume of the room in
 * flight) with the same `member_left`. The actor's posts reach a front in order, so a subscribed
 * socket gets `member_left` and then nothing more of the room: as `room_deleted` does
 * (./room-deleted.ts), on one user's sockets only.
 */
import { ROOM } from '../../actors/messages.js';
import type { Conn } from './conn.js';
import type { GatewayCore } from './ops/types.js';
import type { Sockets } from './sockets.js';

export function memberRemoved(gw: GatewayCore, sockets: Pick<Sockets, 'of'>, roomId: number, userId: number, reason: 'kicked' | 'banned'): void {
  for (const conn of sockets.of(userId)) removeFrom(gw, conn, roomId, userId, reason);
}

function removeFrom(gw: GatewayCore, conn: Conn, roomId: number, userId: number, reason: 'kicked' | 'banned'): void {
  const subscribed = conn.rooms?.has(roomId) ?? false;
  if (!subscribed || conn.pending?.has(roomId)) gw.send(conn, 'member_left', { room_id: roomId, user_id: userId, reason });
  if (!subscribed) return;
  gw.unsubscribe(conn, roomId);
  gw.actors.tell(ROOM, roomId, { t: 'detach', sub: { front: gw.front } });
}
