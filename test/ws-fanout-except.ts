/**
 * `Fanout.publishExcept` (typing: to a conversation's subscribers but the typist's sockets) with
 * a real uWS app and real WebSocket clients over loopback.
 *
 * uWS writes a turn's publishes to each socket at the end of the turn, to the topics the socket is
 * on at that moment. publishExcept takes the typist's other sockets off the topic for one publish:
 * a room message published earlier in the same turn was lost for them (found by the moderation
 * work: a `member_left` published and then unsubscribed in one turn never arrived). Here the room
 * message and the typing are made in one turn, as when both envelopes are read from one ring.
 */
import t from 'tap';
import WebSocket from 'ws';
import { newConn, topicFor, type Conn, type SocketData } from '../src/net/ws/conn.js';
import { Fanout } from '../src/net/ws/fanout.js';
import { Sockets } from '../src/net/ws/sockets.js';
import { createApp, listen } from '../src/net/uws.js';
import { roomTopic } from '../src/actors/messages.js';

t.test('the typist\'s other sockets keep what was published to the room earlier in the turn', async (t) => {
  const sockets = new Sockets();
  const fanout = new Fanout(sockets);
  const app = createApp();
  fanout.attach(app);
  const opened: Conn[] = [];
  let trigger: (() => void) | null = null;
  app.ws<SocketData>('/ws', {
    upgrade: (res, req, context) => {
      const conn = newConn('veza.json', '127.0.0.1');
      const who = Number(new URLSearchParams(req.getQuery() ?? '').get('user'));
      conn.user = { id: who, username: `u${who}`, role: 'user' };
      res.upgrade<SocketData>({ conn }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
      const conn = ws.getUserData().conn;
      conn.ws = ws;
      sockets.add(conn);
      sockets.addUser(conn, conn.user!.id);
      t.ok(fanout.listen(conn, 1), 'listening to room 1');
      opened.push(conn);
    },
    message: () => trigger?.(),
  });
  const bound = await listen(app, '127.0.0.1', 0);
  t.teardown(() => app.close());

  // Alice (user 1) on one socket; Bob (user 2), the typist, on two.
  const clients: Array<{ ws: WebSocket; got: string[] }> = [];
  for (const user of [1, 2, 2]) {
    const ws = new WebSocket(`ws://127.0.0.1:${bound.port}/ws?user=${user}`, 'veza.json');
    const c = { ws, got: [] as string[] };
    ws.on('message', (d) => c.got.push(JSON.parse(String(d)).type));
    await new Promise((r) => ws.once('open', r));
    clients.push(c);
  }
  while (opened.length < 3) await new Promise((r) => setTimeout(r, 5));
  t.equal(app.numSubscribers(topicFor(roomTopic(1), 'veza.json')), 3);

  trigger = () => {
    fanout.publish([roomTopic(1)], { type: 'message', data: '{"id":1}' });
    fanout.publishExcept([roomTopic(1)], { type: 'typing', data: '{"user_id":2}' }, 2);
    fanout.publish([roomTopic(1)], { type: 'message_edited', data: '{"id":1}' });
  };
  clients[0]!.ws.send('go');
  const want = [3, 2, 2];
  const deadline = Date.now() + 5000;
  while (clients.some((c, i) => c.got.length < want[i]!) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.same(clients[0]!.got, ['message', 'typing', 'message_edited'], 'alice gets all three');
  t.same(clients[1]!.got, ['message', 'message_edited'], 'the typist\'s socket that published: no typing');
  t.same(clients[2]!.got, ['message', 'message_edited'], 'the typist\'s other socket: the message of the same turn, no typing');
  for (const c of clients) c.ws.close();
});
