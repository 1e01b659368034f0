/**
 * resume: each conversation asked of its RoomActor directly, all at once. Each answer is handled
 * as it is read from the ring (../fanout.ts): `resumed`, the missed events, and the socket back on
 * the topic, before the conversation's next live event. A conversation that cannot be resumed
 * fails alone (an `error` naming it); with an `id`, one `ack` follows the last answer.
 */
import { ROOM, type ResumeReply } from '../../../actors/messages.js';
import { ChatError, toChatError } from '../../../errors.js';
import type { OpTable } from './types.js';

type Outcome =
  | { conversation_id: number; recovered: boolean; from_seq: number; to_seq: number; live: boolean }
  | { conversation_id: number; error: string };

export const resumeOps: OpTable = {
  resume(ctx, data) {
    const { conn, gw } = ctx;
    if (data.positions.length === 0) return { conversations: [] };
    // Each conversation named costs one: a frame of 200 ids is 200 actor asks.
    gw.limit(conn, ctx.user.id, 'resume', data.positions.length);
    const outcomes: Outcome[] = new Array(data.positions.length);
    let waiting = data.positions.length;
    const done = () => {
      if (--waiting === 0) ctx.reply({ conversations: outcomes });
    };
    data.positions.forEach(({ conversation_id: id, last_seq: lastSeq }, i) => {
      const failed = (e: unknown) => {
        const err = toChatError(e);
        gw.send(conn, 'error', { ...err.toWire(), details: [{ path: `data.positions.${id}`, message: err.message }] });
        outcomes[i] = { conversation_id: id, error: err.code };
        done();
      };
      if (!gw.fanout.begin(conn, id)) return failed(new ChatError('conflict', `conversation ${id} is already being joined or resumed on this connection`));
      const subscribe = !(conn.rooms?.has(id) ?? false);
      gw.actors.call<ResumeReply>(ROOM, id, { t: 'resume', caller: ctx.user, lastSeq, ...(subscribe ? { sub: { front: gw.front } } : {}) }, (err, r) => {
        if (err !== null || r === undefined) {
          gw.fanout.settle(conn, id);
          return failed(err);
        }
        // The room counted this socket as a subscriber (a member of a room, not a DM): listen.
        if (subscribe && r.subscribed && !gw.subscribe(conn, id)) return;
        const live = r.live || (conn.rooms?.has(id) ?? false);
        gw.send(conn, 'resumed', { conversation_id: id, recovered: r.recovered, from_seq: r.from_seq, to_seq: r.to_seq, live });
        for (const ev of r.events) gw.send(conn, ev.type, ev.data);
        gw.fanout.settle(conn, id);
        outcomes[i] = { conversation_id: id, recovered: r.recovered, from_seq: r.from_seq, to_seq: r.to_seq, live };
        done();
      });
    });
    return undefined;
  },
};
