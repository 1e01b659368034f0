/**
 * Changes to messages over REST, as the WebSocket operations of src/net/ws/ops/changes.ts make
 * them: `PATCH/DELETE /messages/:id`, `POST /messages/:id/reactions`,
 * `DELETE /messages/:id/reactions/:emoji`, `GET/POST /rooms/:id/pins`,
 * `DELETE /rooms/:id/pins/:message_id`. The same actors decide, commit and broadcast.
 */
import { MESSAGE, ROOM, type ActorCaller, type Caller, type ChangeReply } from '../../actors/messages.js';
import type { AccessTokens } from '../../auth/jwt.js';
import { ChatError } from '../../errors.js';
import type { ContentPipeline } from '../../content/pipeline.js';
import type { BudgetAction } from '../../limits/budgets.js';
import type { WireMessage } from '../../protocol/events.js';
import type { RestSchemas } from '../../protocol/rest.js';
import { emoji } from '../../protocol/validation.js';
import { parseOrThrow } from '../../protocol/validation.js';
import { requestCaller } from './caller.js';
import { json } from './reply.js';
import { API_PREFIX } from './routes-auth.js';
import type { Request, Route } from './types.js';
import { idParam, jsonBody } from './validate.js';

/** What chatRoutes already made: the schemas, the user's budgets, the content pipeline (as ./routes-reads.ts). */
export interface ChangeRouteDeps {
  actors: ActorCaller;
  tokens: AccessTokens;
  schemas: RestSchemas;
  /** Take one operation of the user's budget for `action`, or throw `rate_limited`. */
  limit: (user: Caller, action: BudgetAction) => void;
  content: ContentPipeline;
}

const emojiParam = emoji();

export function changeRoutes({ actors, tokens, schemas, limit, content: pipeline }: ChangeRouteDeps, prefix = API_PREFIX): Route[] {
  const caller = (req: Request): Promise<Caller> => requestCaller(tokens, req);
  /** 200 with the change's seq; a change that changed nothing is 200 with `changed: false` too. */
  const change = (msg: (user: Caller, req: Request) => { kind: typeof MESSAGE | typeof ROOM; id: number; body: object }) => async (req: Request) => {
    const user = await caller(req);
    const { kind, id, body } = msg(user, req);
    return json(200, await actors.ask<ChangeReply>(kind, id, body));
  };
  const react = (add: boolean) =>
    change((user, req) => {
      limit(user, 'send_message');
      const id = idParam(req, 'id');
      const e = add ? jsonBody(req, schemas.addReaction).emoji : parseOrThrow(emojiParam, req.params.emoji ?? '', 'emoji', 'invalid emoji');
      return { kind: MESSAGE, id, body: { t: 'react', caller: user, messageId: id, emoji: e, add } };
    });
  return [
    {
      method: 'PATCH',
      path: `${prefix}/messages/:id`,
      handler: change((user, req) => {
        const id = idParam(req, 'id');
        const body = jsonBody(req, schemas.editMessage);
        limit(user, 'edit_message');
        const content = pipeline.message(user.id, body.content, 'content', false);
        return { kind: MESSAGE, id, body: { t: 'edit', caller: user, messageId: id, content } };
      }),
    },
    {
      method: 'DELETE',
      path: `${prefix}/messages/:id`,
      handler: change((user, req) => {
        const id = idParam(req, 'id');
        limit(user, 'edit_message');
        return { kind: MESSAGE, id, body: { t: 'delete', caller: user, messageId: id, ip: req.ip } };
      }),
    },
    { method: 'POST', path: `${prefix}/messages/:id/reactions`, handler: react(true) },
    { method: 'DELETE', path: `${prefix}/messages/:id/reactions/:emoji`, handler: react(false) },
    {
      method: 'GET',
      path: `${prefix}/rooms/:id/pins`,
      handler: async (req) => {
        const user = await caller(req);
        limit(user, 'read');
        const messages = await actors.ask<WireMessage[]>(ROOM, idParam(req, 'id'), { t: 'pins', caller: user });
        return json(200, { messages });
      },
    },
    {
      method: 'POST',
      path: `${prefix}/rooms/:id/pins`,
      handler: change((user, req) => {
        const { message_id } = jsonBody(req, schemas.pin);
        limit(user, 'edit_message');
        return { kind: ROOM, id: idParam(req, 'id'), body: { t: 'pin', caller: user, messageId: message_id, pin: true } };
      }),
    },
    {
      method: 'DELETE',
      path: `${prefix}/rooms/:id/pins/:message_id`,
      handler: change((user, req) => {
        limit(user, 'edit_message');
        return { kind: ROOM, id: idParam(req, 'id'), body: { t: 'pin', caller: user, messageId: idParam(req, 'message_id'), pin: false } };
      }),
    },
  ];
}
