/**
 * Rooms, messages and direct conversations over REST (`/api/v1`). Every handler authenticates the
 * bearer token on the front and asks the actor that owns the conversation, exactly as a WebSocket
 * operation does: a message posted here is committed by the same RoomActor and reaches the room's
 * WebSocket members like any other. The contract's endpoints not built yet answer 501
 * (./routes-pending.ts).
 */
import {
  MESSAGE,
  ROOM,
  USER,
  type ActorCaller,
  type Caller,
  type ConversationKind,
  type DmReply,
  type HistoryReply,
  type JoinReply,
  type SendReply,
  type ThreadReply,
} from '../../actors/messages.js';
import type { AccessTokens } from '../../auth/jwt.js';
import type { Config } from '../../config/schema.js';
import { ChatError } from '../../errors.js';
import { ContentPipeline } from '../../content/pipeline.js';
import { Budgets, type BudgetAction } from '../../limits/budgets.js';
import type { Limiter } from '../../limits/shared-buckets.js';
import type { ListPage } from '../../actors/user.js';
import type { WireMessage } from '../../protocol/events.js';
import { buildRestSchemas, listQuery, pageQuery, parseRest } from '../../protocol/rest.js';
import { dmPeerId } from '../../protocol/validation.js';
import { requestCaller } from './caller.js';
import { json } from './reply.js';
import { API_PREFIX } from './routes-auth.js';
import { changeRoutes } from './routes-changes.js';
import { notImplementedRoutes } from './routes-pending.js';
import { readRoutes } from './routes-reads.js';
import type { Request, Route } from './types.js';
import { idParam, jsonBody } from './validate.js';
import { countReceived } from '../../metrics/index.js';

export interface ChatRouteDeps {
  actors: ActorCaller;
  tokens: AccessTokens;
  config: Config;
  limiter: Limiter<keyof Config['limits']['perMinute']>;
  /** The adaptive budgets over `limiter`, shared with the WebSocket gateway (made from it when not given). */
  budgets?: Budgets;
  /** The content pipeline, shared with the WebSocket gateway (made when not given). */
  content?: ContentPipeline;
}

export function chatRoutes(deps: ChatRouteDeps, prefix = API_PREFIX): Route[] {
  const { actors, tokens } = deps;
  const budgets = deps.budgets ?? new Budgets(deps.limiter, deps.config.limits);
  const content = deps.content ?? new ContentPipeline(deps.config.content, (id) => budgets.penalise(id));
  const schemas = buildRestSchemas({ auth: deps.config.auth, limits: deps.config.limits });

  const caller = (req: Request): Promise<Caller> => requestCaller(tokens, req);
  const limit = (user: Caller, action: BudgetAction) => budgets.takeOrThrow(user, action);
  // The same two handlers serve /rooms/:id/messages and /dm/:id/messages, each for its own kind.
  const history = (kind: ConversationKind) => async (req: Request) => {
    const user = await caller(req);
    const page = parseRest(pageQuery, req.query);
    limit(user, 'fetch_history');
    const r = await actors.ask<HistoryReply>(ROOM, idParam(req, 'id'), { t: 'history', kind, caller: user, ...page });
    return json(200, { messages: r.messages, has_more: r.has_more, next_cursor: r.next_cursor });
  };
  const post = (kind: ConversationKind) => async (req: Request) => {
    const user = await caller(req);
    const body = jsonBody(req, schemas.postMessage);
    limit(user, 'send_message');
    countReceived(kind, body.content);
    const text = content.message(user.id, body.content, 'content', true, body.client_id ?? null);
    const r = await actors.ask<SendReply>(ROOM, idParam(req, 'id'), {
      t: 'send',
      kind,
      caller: user,
      msg: { content: text, parentId: body.parent_message_id ?? null, metadata: body.metadata ?? null, clientId: body.client_id ?? null },
    });
    return json(r.duplicate ? 200 : 201, r.message);
  };

  return [
    {
      method: 'GET',
      path: `${prefix}/rooms`,
      handler: async (req) => {
        const user = await caller(req);
        const q = parseRest(listQuery, req.query);
        limit(user, 'read');
        const p = await actors.ask<ListPage<unknown>>(USER, user.id, { t: 'list_rooms', caller: user, ...q });
        return json(200, { rooms: p.items, has_more: p.has_more, next_cursor: p.next_cursor });
      },
    },
    {
      method: 'POST',
      path: `${prefix}/rooms`,
      handler: async (req) => {
        const user = await caller(req);
        const body = jsonBody(req, schemas.createRoom);
        limit(user, 'create_room');
        const room = await actors.ask(USER, user.id, {
          t: 'create_room',
          caller: user,
          name: content.name(body.name, 'name', false, 100),
          description: body.description == null ? null : content.name(body.description, 'description', true),
          isPublic: body.is_public ?? true,
          maxMembers: body.max_members ?? null,
        });
        return json(201, room);
      },
    },
    {
      method: 'GET',
      path: `${prefix}/rooms/:id`,
      handler: async (req) => {
        const user = await caller(req);
        limit(user, 'read');
        const r = await actors.ask<{ room: unknown }>(ROOM, idParam(req, 'id'), { t: 'info', kind: 'room', caller: user });
        if (r.room === null) throw new ChatError('not_found', 'room not found');
        return json(200, r.room);
      },
    },
    {
      method: 'POST',
      path: `${prefix}/rooms/:id/join`,
      handler: async (req) => {
        const user = await caller(req);
        limit(user, 'join_room');
        const id = idParam(req, 'id');
        const r = await actors.ask<JoinReply>(ROOM, id, { t: 'join', caller: user });
        return json(200, { room_id: id, room: r.room, last_seq: r.last_seq });
      },
    },
    {
      method: 'POST',
      path: `${prefix}/rooms/:id/leave`,
      handler: async (req) => {
        const user = await caller(req);
        const id = idParam(req, 'id');
        limit(user, 'leave_room');
        await actors.ask(ROOM, id, { t: 'leave', caller: user });
        return json(200, { room_id: id });
      },
    },
    {
      method: 'GET',
      path: `${prefix}/rooms/:id/members`,
      handler: async (req) => {
        const user = await caller(req);
        const q = parseRest(listQuery, req.query);
        limit(user, 'read');
        // A page by user id, newest first like the other lists, with usernames and presence.
        return json(200, await actors.ask(ROOM, idParam(req, 'id'), { t: 'members', kind: 'room', caller: user, ...q }));
      },
    },
    { method: 'GET', path: `${prefix}/rooms/:id/messages`, handler: history('room') },
    { method: 'POST', path: `${prefix}/rooms/:id/messages`, handler: post('room') },
    {
      method: 'POST',
      path: `${prefix}/dm`,
      handler: async (req) => {
        const user = await caller(req);
        const peer = dmPeerId(jsonBody(req, schemas.createDm), user.id);
        limit(user, 'read');
        if (peer === user.id) {
          throw new ChatError('validation_failed', 'a direct conversation needs another user', {
            details: [{ path: 'user_id', message: 'cannot be the caller' }],
          });
        }
        const dm = await actors.ask<DmReply>(USER, user.id, { t: 'create_dm', caller: user, peerId: peer });
        return json(dm.created ? 201 : 200, { conversation_id: dm.conversation_id, user_ids: dm.user_ids, last_seq: dm.last_seq, created: dm.created });
      },
    },
    {
      method: 'GET',
      path: `${prefix}/dm`,
      handler: async (req) => {
        const user = await caller(req);
        const q = parseRest(listQuery, req.query);
        limit(user, 'read');
        const p = await actors.ask<ListPage<unknown>>(USER, user.id, { t: 'list_dms', caller: user, ...q });
        return json(200, { conversations: p.items, has_more: p.has_more, next_cursor: p.next_cursor });
      },
    },
    {
      method: 'GET',
      path: `${prefix}/messages/:id`,
      handler: async (req) => {
        const user = await caller(req);
        const messageId = idParam(req, 'id');
        limit(user, 'fetch_history');
        // A message id names no conversation: its MessageRouter finds it, the room decides who reads.
        return json(200, await actors.ask<WireMessage>(MESSAGE, messageId, { t: 'message', caller: user, messageId }));
      },
    },
    {
      method: 'GET',
      path: `${prefix}/messages/:id/thread`,
      handler: async (req) => {
        const user = await caller(req);
        const messageId = idParam(req, 'id');
        const page = parseRest(pageQuery, req.query);
        limit(user, 'fetch_history');
        const r = await actors.ask<ThreadReply>(MESSAGE, messageId, { t: 'thread', caller: user, messageId, ...page });
        return json(200, { parent: r.parent, messages: r.messages, has_more: r.has_more, next_cursor: r.next_cursor });
      },
    },
    { method: 'GET', path: `${prefix}/dm/:id/messages`, handler: history('dm') },
    { method: 'POST', path: `${prefix}/dm/:id/messages`, handler: post('dm') },
    // Read markers, PATCH and DELETE /rooms/:id (./routes-reads.ts).
    ...readRoutes({ actors, tokens, schemas, limit, content }, prefix),
    // The rest of the contract's endpoints: 501 `not_implemented` until they are built.
    ...changeRoutes({ actors, tokens, schemas, limit, content }, prefix),
    ...notImplementedRoutes({ tokens }, prefix),
  ];
}
