/**
 * A room was deleted (DELETE /rooms/:id): its RoomActor posts `room_deleted` to every front. Each
 * front tells the sockets that were subscribed to the room and every socket of its last members
 * (a member connected without having joined on that socket learns it too), once each, and takes
 * the subscribed ones off the room's topic, so nothing of the room reaches them again and their
 * sessions no longer count it. A walk over the front's sockets: a deletion is rare, and a
 * socket's subscriptions are kept on the socket, not indexed by room.
 */
import type { Conn } from './conn.js';
import type { GatewayCore } from './ops/types.js';
import type { Sockets } from './sockets.js';

export function roomDeleted(gw: GatewayCore, sockets: Iterable<Conn> & Pick<Sockets, 'eachOf'>, roomId: number, users: readonly number[]): void {
  const told = new Set<Conn>();
  for (const conn of sockets) {
    if (conn.rooms?.has(roomId)) told.add(conn);
  }
  for (const userId of users) sockets.eachOf(userId, (conn) => told.add(conn));
  for (const conn of told) {
    gw.send(conn, 'room_deleted', { room_id: roomId });
    // After the event: uWS sends in order, and an unsubscribed socket gets nothing more of the room.
    if (conn.rooms?.has(roomId)) gw.unsubscribe(conn, roomId);
  }
}
