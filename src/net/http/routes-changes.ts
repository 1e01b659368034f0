/**
 * Changes to messages over REST, as the WebSocket operations of src/net/ws/ops/changes.ts make
 * them: `PATCH/DELETE /messages/:id`, `POST /messages/:id/reactions`,
 * `DELETE /messages/:id/reactions/:emoji`, `GET/POST /rooms/:id/pins`,
 * `DELETE /rooms/:id/pins/:message_id`. The same actors decide, commit and broadcast.
 */
import { MESSAGE, ROOM, type ActorCaller, type Caller, type ChangeReply } from '../../actors/messages.js';
import type { AccessTokens } from '../../auth/jwt.js';
import type { Config } from '../../config/schema.js';
import { ChatError } from '../../errors.js';
import { ContentPipeline } from '../../content/pipeline.js';
import { Budgets, type BudgetAction } from '../../limits/budgets.js';
import type { Limiter } from '../../limits/shared-buckets.js';
import type { WireMessage } from '../../protocol/events.js';
import { buildRestSchemas } from '../../protocol/rest.js';
import { emoji } from '../../protocol/validation.js';
import { parseOrThrow } from '../../protocol/validation.js';
import { requestCaller } from './caller.js';
import { json } from './reply.js';
import { API_PREFIX } from './routes-auth.js';
import type { Request, Route } from './types.js';
import { idParam, jsonBody } from './validate.js';
import { rateLimited } from '../../metrics/index.js';

export interface ChangeRouteDeps {
  actors: ActorCaller;
  tokens: AccessTokens;
  config: Config;
  limiter: Limiter<keyof Config['limits']['perMinute']>;
  budgets?: Budgets;
  content?: ContentPipeline;
}

const emojiParam = emoji();

export function changeRoutes(deps: ChangeRouteDeps, prefix = API_PREFIX): Route[] {
  const { actors, tokens } = deps;
  const budgets = deps.budgets ?? new Budgets(deps.limiter, deps.config.limits);
  const pipeline = deps.content ?? new ContentPipeline(deps.config.content, (id) => budgets.penalise(id));
  const schemas = buildRestSchemas({ auth: deps.config.auth, limits: deps.config.limits });
  const caller = (req: Request): Promise<Caller> => requestCaller(tokens, req);
  const limit = (user: Caller, action: BudgetAction = 'send_message') => budgets.takeOrThrow(user, action);
  /** 200 with the change's seq; a change that changed nothing is 200 with `changed: false` too. */
  const change = (msg: (user: Caller, req: Request) => { kind: typeof MESSAGE | typeof ROOM; id: number; body: object }) => async (req: Request) => {
    const user = await caller(req);
    const { kind, id, body } = msg(user, req);
    return json(200, await actors.ask<ChangeReply>(kind, id, body));
  };
  const react = (add: boolean) =>
    change((user, req) => {
      limit(user);
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
