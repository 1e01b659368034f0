import { z } from 'zod';
import { configSchema, type Config } from '../config/schema.js';
import { ChatError } from '../errors.js';
import type { Envelope } from './codec.js';
import { clientId, content, dmTarget, emoji, id, metadata, parseOrThrow, reason, sanctionSeconds } from './validation.js';

/**
 * One strict zod schema per client operation of PROTOCOL.md ("Client operations"). Conventions:
 * - every schema is `.strict()`: an unknown field is `validation_failed` with its path;
 * - ids are positive safe integers, never numeric strings;
 * - an optional field sent as `null` counts as absent (the seed clients send `"parent_id": null`,
 *   and Go/Python encoders write null for empty optionals);
 * - the parsed value is what handlers use; where the wire allows two spellings, the parse
 *   normalises to one (`typing` → `conversation_id`, `resume.positions` → an array).
 */

/** Most conversations one `resume` may name. */
const RESUME_MAX_POSITIONS = 200;
const HISTORY_DEFAULT_LIMIT = 50;
const HISTORY_MAX_LIMIT = 100;
const TOKEN_MAX_CHARS = 8192;

export type ClientLimits = Pick<Config['limits'], 'maxContentChars'>;

const CONVERSATION_KEY = /^[1-9][0-9]{0,15}$/;

export function buildClientSchemas(limits: ClientLimits) {
  const text = content(limits.maxContentChars);
  const optId = id().nullish();

  const newMessage = {
    content: text,
    parent_id: optId,
    metadata: metadata().nullish(),
    client_id: clientId().nullish(),
  };

  const positions = z
    .unknown()
    // Count the entries before zod walks them: a frame may hold thousands.
    .superRefine((v, ctx) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        ctx.addIssue({ code: 'custom', message: v === undefined ? 'required' : 'expected an object of conversation id → last seq', input: v });
      } else if (Object.keys(v).length > RESUME_MAX_POSITIONS) {
        ctx.addIssue({ code: 'custom', message: `too many conversations: at most ${RESUME_MAX_POSITIONS}`, input: v });
      }
    })
    .pipe(
      z.record(
        z.string().regex(CONVERSATION_KEY, 'expected a conversation id'),
        z.int().min(0),
      ),
    )
    .transform((rec) => Object.entries(rec).map(([k, seq]) => ({ conversation_id: Number(k), last_seq: seq })));

  const schemas = {
    authenticate: z.strictObject({ token: z.string().min(1).max(TOKEN_MAX_CHARS) }),
    join_room: z.strictObject({ room_id: id(), user_id: optId }),
    leave_room: z.strictObject({ room_id: id() }),
    send_message: z.strictObject({ room_id: id(), ...newMessage }),
    edit_message: z.strictObject({ message_id: id(), content: text }),
    delete_message: z.strictObject({ message_id: id() }),
    create_dm: dmTarget(),
    send_dm: z.strictObject({ conversation_id: id(), ...newMessage }),
    add_reaction: z.strictObject({ message_id: id(), emoji: emoji() }),
    remove_reaction: z.strictObject({ message_id: id(), emoji: emoji() }),
    pin_message: z.strictObject({ room_id: id(), message_id: id() }),
    unpin_message: z.strictObject({ room_id: id(), message_id: id() }),
    typing: z
      .strictObject({ conversation_id: optId, room_id: optId, state: z.enum(['start', 'stop']) })
      .superRefine((d, ctx) => {
        if (d.conversation_id != null && d.room_id != null) {
          ctx.addIssue({ code: 'custom', path: ['room_id'], message: 'give conversation_id or room_id, not both' });
        } else if (d.conversation_id == null && d.room_id == null) {
          ctx.addIssue({ code: 'custom', path: ['conversation_id'], message: 'required (or room_id)' });
        }
      })
      // A room is a conversation: one id space, so handlers see one field.
      .transform((d) => ({ conversation_id: (d.conversation_id ?? d.room_id) as number, state: d.state })),
    mark_read: z.strictObject({ conversation_id: id(), message_id: id() }),
    fetch_history: z
      .strictObject({
        conversation_id: id(),
        before: optId,
        // 0: from the start (ids are positive), to page forward through a whole conversation.
        after: z.int().min(0).nullish(),
        limit: z.int().min(1).max(HISTORY_MAX_LIMIT).nullish(),
      })
      .superRefine((d, ctx) => {
        if (d.before != null && d.after != null) {
          ctx.addIssue({ code: 'custom', path: ['after'], message: 'before and after cannot be used together' });
        }
      })
      .transform((d) => {
        const out: { conversation_id: number; before?: number; after?: number; limit: number } = {
          conversation_id: d.conversation_id,
          limit: d.limit ?? HISTORY_DEFAULT_LIMIT,
        };
        if (d.before != null) out.before = d.before;
        if (d.after != null) out.after = d.after;
        return out;
      }),
    resume: z.strictObject({ positions }),
    set_presence: z.strictObject({ status: z.enum(['online', 'away']) }),
    // Moderation (PROTOCOL.md "Moderation"): the REST bodies' rules, with the room in `data`.
    kick_member: z.strictObject({ room_id: id(), user_id: id(), reason: reason() }),
    ban_member: z.strictObject({ room_id: id(), user_id: id(), reason: reason(), duration_s: sanctionSeconds().nullish() }),
    unban_member: z.strictObject({ room_id: id(), user_id: id() }),
    mute_member: z.strictObject({ room_id: id(), user_id: id(), reason: reason(), duration_s: sanctionSeconds() }),
    unmute_member: z.strictObject({ room_id: id(), user_id: id() }),
    set_member_role: z.strictObject({ room_id: id(), user_id: id(), role: z.enum(['moderator', 'member']) }),
    ping: z.strictObject({}),
  };
  return Object.freeze(schemas);
}

export type ClientSchemas = ReturnType<typeof buildClientSchemas>;
export type ClientOpType = keyof ClientSchemas;
export type ClientOpData = { [K in ClientOpType]: z.output<ClientSchemas[K]> };
/** A validated client frame: a discriminated union on `type`. */
export type ClientOp = { [K in ClientOpType]: { type: K; id?: string; data: ClientOpData[K] } }[ClientOpType];

/** The operation table with the default limits. A server builds its own with `buildClientSchemas(config.limits)`. */
const CLIENT_OPS: ClientSchemas = buildClientSchemas(configSchema.shape.limits.parse(undefined));

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * Validate a decoded envelope against its operation's schema. An unknown `type` and any problem
 * in `data` are `validation_failed` (the frame was well formed; the request is not), with
 * details whose paths start at `type` or `data.`.
 */
export function parseClientFrame(envelope: Envelope, schemas: ClientSchemas = CLIENT_OPS): ClientOp {
  const { type } = envelope;
  if (!Object.hasOwn(schemas, type)) {
    const shown = type.length > 64 ? `${type.slice(0, 64)}…` : type;
    throw new ChatError('validation_failed', `unknown operation "${shown}"`, {
      details: [{ path: 'type', message: 'unknown operation' }],
    });
  }
  const schema = schemas[type as ClientOpType] as z.ZodType;
  const data = parseOrThrow(schema, envelope.data ?? EMPTY, 'data', `invalid ${type}`);
  const op = { type, data } as ClientOp;
  if (envelope.id !== undefined) op.id = envelope.id;
  return op;
}

export { dmPeerId } from './validation.js';
