import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { clientId, content, dmTarget, emoji, id, metadata, parseOrThrow, reason as reasonSchema, sanctionSeconds } from './validation.js';

/**
 * REST bodies, path parameters and queries of PROTOCOL.md ("REST"). Bodies are `.strict()`
 * (an unknown field is `validation_failed`), as are queries: a misspelt `?limt=` fails loudly
 * instead of silently paging by 50. Optional body fields accept null as absent, like the WebSocket
 * operations. Error details name the field without prefix (`content`, `limit`).
 */

const USERNAME = /^[A-Za-z0-9_.-]+$/;
const ROOM_NAME_MAX_CHARS = 100;
const ROOM_DESCRIPTION_MAX_CHARS = 1000;
const ROOM_MAX_MEMBERS = 100_000;
/** scrypt hashes any length, but bounding the input bounds the work a request can ask for. */
const PASSWORD_MAX_CHARS = 1024;
const TOKEN_MAX_CHARS = 512;

export interface RestLimits {
  auth: Pick<Config['auth'], 'minPasswordLength'>;
  limits: Pick<Config['limits'], 'maxContentChars'>;
}

/** A path parameter `:id`: decimal digits, no sign, a positive safe integer. */
export const idParam = z
  .string()
  .regex(/^[0-9]{1,16}$/, 'expected a positive integer id')
  .transform(Number)
  .pipe(id());

/** Empty query values (`?before=&limit=`) count as absent. */
const queryInt = (schema: z.ZodType<number, number>) =>
  z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().regex(/^[0-9]{1,16}$/, 'expected a positive integer').transform(Number).pipe(schema).optional(),
  );

/** `?before=&limit=` for lists of rooms and DMs: an id cursor (exclusive), 1..100 (default 100). */
export const listQuery = z
  .strictObject({ before: queryInt(id()), limit: queryInt(z.int().min(1).max(100)) })
  .transform((q) => ({ limit: q.limit ?? 100, ...(q.before !== undefined ? { before: q.before } : {}) }));

/** `?before=&after=&limit=` for message lists: message id cursors (`after` may be 0), 1..100 (default 50), not both cursors. */
export const pageQuery = z
  .strictObject({
    before: queryInt(id()),
    // 0: from the start (ids are positive), to page forward through a whole conversation.
    after: queryInt(z.int().min(0)),
    limit: queryInt(z.int().min(1).max(100)),
  })
  .superRefine((q, ctx) => {
    if (q.before !== undefined && q.after !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['after'], message: 'before and after cannot be used together' });
    }
  })
  .transform((q) => {
    const page: { before?: number; after?: number; limit: number } = { limit: q.limit ?? 50 };
    if (q.before !== undefined) page.before = q.before;
    if (q.after !== undefined) page.after = q.after;
    return page;
  });

export function buildRestSchemas(cfg: RestLimits) {
  const text = content(cfg.limits.maxContentChars);
  const minPassword = cfg.auth.minPasswordLength;
  const refreshToken = z.strictObject({ refresh_token: z.string().min(1).max(TOKEN_MAX_CHARS) });
  const roomName = z
    .string()
    .min(1)
    .max(ROOM_NAME_MAX_CHARS)
    .refine((s) => s.trim() !== '', 'must not be blank');
  const description = z.string().max(ROOM_DESCRIPTION_MAX_CHARS).nullish();
  const maxMembers = z.int().min(2).max(ROOM_MAX_MEMBERS).nullish();
  const reason = reasonSchema();
  const seconds = sanctionSeconds();
  const newMessage = z.strictObject({
    content: text,
    parent_message_id: id().nullish(),
    metadata: metadata().nullish(),
    client_id: clientId().nullish(),
  });

  return Object.freeze({
    /** POST /auth/register */
    register: z.strictObject({
      username: z.string().min(3).max(50).regex(USERNAME, 'letters, digits, "_", "." and "-" only'),
      email: z.email().max(255),
      password: z.string().min(minPassword).max(Math.max(PASSWORD_MAX_CHARS, minPassword)),
    }),
    /** POST /auth/login. No minimum beyond 1: the rule may have changed since the account was made. */
    login: z.strictObject({
      username: z.string().min(1).max(255),
      password: z.string().min(1).max(Math.max(PASSWORD_MAX_CHARS, minPassword)),
    }),
    /** POST /auth/refresh */
    refresh: refreshToken,
    /** POST /auth/logout */
    logout: refreshToken,
    /** POST /auth/password: the current password, and the new one (the registration rule). */
    changePassword: z.strictObject({
      current_password: z.string().min(1).max(Math.max(PASSWORD_MAX_CHARS, minPassword)),
      new_password: z.string().min(minPassword).max(Math.max(PASSWORD_MAX_CHARS, minPassword)),
    }),
    /** POST /rooms */
    createRoom: z.strictObject({
      name: roomName,
      description,
      is_public: z.boolean().nullish(),
      max_members: maxMembers,
    }),
    /** PATCH /rooms/:id: any of the create fields, at least one. */
    updateRoom: z
      .strictObject({ name: roomName.optional(), description, is_public: z.boolean().nullish(), max_members: maxMembers })
      .refine((b) => Object.keys(b).length > 0, 'nothing to update'),
    /** POST /rooms/:id/messages and POST /dm/:id/messages */
    postMessage: newMessage,
    /** PATCH /messages/:id */
    editMessage: z.strictObject({ content: text }),
    /** POST /dm: as create_dm's data. */
    createDm: dmTarget(),
    /** POST /conversations/:id/read */
    readMarker: z.strictObject({ message_id: id() }),
    /** POST /messages/:id/reactions */
    addReaction: z.strictObject({ emoji: emoji() }),
    /** POST /rooms/:id/pins */
    pin: z.strictObject({ message_id: id() }),
    /** POST /rooms/:id/bans: permanent without `duration_s`. */
    ban: z.strictObject({ user_id: id(), reason, duration_s: seconds.nullish() }),
    /** POST /rooms/:id/mutes: a mute always ends. */
    mute: z.strictObject({ user_id: id(), reason, duration_s: seconds }),
    /** POST /rooms/:id/kick */
    kick: z.strictObject({ user_id: id(), reason }),
    /** PUT /rooms/:id/members/:user_id/role: the owner's role is not one to give. */
    memberRole: z.strictObject({ role: z.enum(['moderator', 'member']) }),
    /** PUT /users/:id/role (admins) */
    userRole: z.strictObject({ role: z.enum(['user', 'moderator', 'admin']) }),
    /** POST /users/:id/ban (admins): permanent without `duration_s`. */
    userBan: z.strictObject({ reason, duration_s: seconds.nullish() }),
  });
}

export type RestSchemas = ReturnType<typeof buildRestSchemas>;

/** Parse a request body, query or parameter, or throw ChatError('validation_failed') with details. */
export function parseRest<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  return parseOrThrow(schema, input, '', 'invalid request');
}
