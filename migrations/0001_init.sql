-- veza-chat core schema: the seed's users, conversations and messages (seed.fr.md, "Modèle de
-- Données Principal"), plus membership and the DM pair table.
--
-- Differences from the seed, on purpose:
--  * flags and counters the seed left nullable (is_active, is_public, thread_count, ...) are
--    NOT NULL with the seed's default: the store's row types have no null there;
--  * username and e-mail are unique case-insensitively (lower(...)), so "Alice" cannot
--    impersonate "alice"; the index also serves the lookup by username;
--  * messages carry the conversation's `seq` and the author's idempotency key `client_id`.

CREATE TYPE user_role AS ENUM ('user', 'moderator', 'admin');
CREATE TYPE conversation_type AS ENUM ('public_room', 'private_room', 'direct_message');
CREATE TYPE message_type AS ENUM ('text', 'image', 'file', 'system');
CREATE TYPE message_status AS ENUM ('sent', 'delivered', 'read', 'edited', 'deleted');
CREATE TYPE member_role AS ENUM ('owner', 'moderator', 'member');

CREATE TABLE users (
  id            BIGSERIAL PRIMARY KEY,
  username      VARCHAR(50)  NOT NULL,
  email         VARCHAR(255) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  role          user_role    NOT NULL DEFAULT 'user',
  is_active     BOOLEAN      NOT NULL DEFAULT true,
  last_activity TIMESTAMPTZ,
  created_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
  updated_at    TIMESTAMPTZ  NOT NULL DEFAULT now()
);
-- Named: the store maps a violation of each to `conflict` naming the field.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE conversations (
  id          BIGSERIAL PRIMARY KEY,
  uuid        UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  name        VARCHAR(100),
  description TEXT,
  type        conversation_type NOT NULL,
  is_public   BOOLEAN NOT NULL DEFAULT false,
  owner_id    BIGINT REFERENCES users (id) ON DELETE SET NULL,
  max_members INTEGER CHECK (max_members IS NULL OR max_members > 0),
  -- Highest seq consumed by events that are not message rows (edits, reactions, pins). The
  -- conversation's last seq is the greater of this and max(messages.seq), so the hot path
  -- (insertMessages) never has to update this row.
  last_seq    BIGINT NOT NULL DEFAULT 0,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- The seed keeps both `type` and `is_public`; they must agree.
  CONSTRAINT conversations_public_type CHECK (is_public = (type = 'public_room')),
  CONSTRAINT conversations_room_named CHECK (type = 'direct_message' OR name IS NOT NULL)
);
CREATE INDEX conversations_public_idx ON conversations (created_at DESC, id DESC) WHERE is_public;

CREATE TABLE conversation_members (
  conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role            member_role NOT NULL DEFAULT 'member',
  joined_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  muted_until     TIMESTAMPTZ,
  -- A ban is kept on the membership row: the row outlives a leave, so a banned user cannot
  -- clear the ban by leaving and joining again.
  banned          BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user_idx ON conversation_members (user_id, conversation_id);

-- One row per direct conversation: the primary key on the ordered pair is what makes
-- "the same pair always gets the same conversation" hold under concurrent create_dm.
CREATE TABLE dm_pairs (
  user_low        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  user_high       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  conversation_id BIGINT NOT NULL UNIQUE REFERENCES conversations (id) ON DELETE CASCADE,
  PRIMARY KEY (user_low, user_high),
  CONSTRAINT dm_pairs_ordered CHECK (user_low < user_high)
);
CREATE INDEX dm_pairs_high_idx ON dm_pairs (user_high);

CREATE TABLE messages (
  id                BIGSERIAL PRIMARY KEY,
  uuid              UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  conversation_id   BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  -- Assigned by the conversation's owner (its RoomActor) before the insert.
  seq               BIGINT NOT NULL CHECK (seq > 0),
  author_id         BIGINT NOT NULL REFERENCES users (id),
  content           TEXT NOT NULL,
  message_type      message_type NOT NULL DEFAULT 'text',
  parent_message_id BIGINT,
  thread_count      INTEGER NOT NULL DEFAULT 0,
  status            message_status NOT NULL DEFAULT 'sent',
  is_edited         BOOLEAN NOT NULL DEFAULT false,
  edit_count        INTEGER NOT NULL DEFAULT 0,
  is_pinned         BOOLEAN NOT NULL DEFAULT false,
  metadata          JSONB NOT NULL DEFAULT '{}',
  -- The author's idempotency key (PROTOCOL.md send_message).
  client_id         UUID,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  edited_at         TIMESTAMPTZ,
  CONSTRAINT messages_conversation_seq_key UNIQUE (conversation_id, seq),
  -- Cursor pagination (history by message id within a conversation), and the target of the
  -- parent key below.
  CONSTRAINT messages_conversation_id_key UNIQUE (conversation_id, id),
  -- A reply's parent is in the same conversation.
  CONSTRAINT messages_parent_fkey FOREIGN KEY (conversation_id, parent_message_id)
    REFERENCES messages (conversation_id, id)
);
-- Partial: rows without a client_id (most of them) cost no entry; NULLs never conflict anyway.
CREATE UNIQUE INDEX messages_author_client_key ON messages (author_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX messages_parent_idx ON messages (parent_message_id) WHERE parent_message_id IS NOT NULL;
