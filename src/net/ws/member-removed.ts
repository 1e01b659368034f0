/**
 * A user was kicked or banned from a room: its RoomActor posts `member_removed` to every front
 * (after the membership is gone). Each front, in one turn:
 * 1. sends `member_left` straight to each of that user's sockets, subscribed to the room or not
 *    (`ws.send` first writes out what uWS still holds for the socket from earlier publishes, so
 *    the room's earlier events keep their order before it);
 * 2. takes the subscribed ones off the room's topic (the room counts them down: one `detach`
 *    each), so nothing of the room reaches them after `member_left`;
 * 3. publishes `member_left` to the room's remaining subscribers on this front.
 * Not through the topic for the user's own sockets: uWS drops what a topic still holds for a
 * socket that unsubscribes in the same turn, and the user would not hear of it. As `room_deleted`
 * does (./room-deleted.ts), on one user's sockets only.
 */
import { ROOM, roomTopic } from '../../actors/messages.js';
import { jsonEvent } from '../../protocol/codec.js';
import type { GatewayCore } from './ops/types.js';
import type { Sockets } from './sockets.js';

export function memberRemoved(gw: GatewayCore, sockets: Pick<Sockets, 'of'>, roomId: number, userId: number, reason: 'kicked' | 'banned'): void {
  const data = { room_id: roomId, user_id: userId, reason };
  for (const conn of sockets.of(userId)) {
    gw.send(conn, 'member_left', data);
    if (!conn.rooms?.has(roomId)) continue;
    gw.unsubscribe(conn, roomId);
    gw.actors.tell(ROOM, roomId, { t: 'detach', sub: { front: gw.front } });
  }
  gw.fanout.publish([roomTopic(roomId)], jsonEvent({ type: 'member_left', data }));
}
