-- Reactions, pins, read markers and file attachments.

CREATE TABLE message_reactions (
  message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- An emoji can be several code points (ZWJ sequences, skin tones).
  emoji      VARCHAR(64) NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (message_id, user_id, emoji)
);

CREATE TABLE pinned_messages (
  conversation_id BIGINT NOT NULL,
  message_id      BIGINT NOT NULL,
  pinned_by       BIGINT REFERENCES users (id) ON DELETE SET NULL,
  pinned_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, message_id),
  -- The pinned message belongs to the conversation it is pinned in.
  FOREIGN KEY (conversation_id, message_id) REFERENCES messages (conversation_id, id) ON DELETE CASCADE
);

-- Per user and conversation: the last message the user has read.
CREATE TABLE read_markers (
  user_id              BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  conversation_id      BIGINT NOT NULL,
  last_read_message_id BIGINT NOT NULL,
  updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, conversation_id),
  FOREIGN KEY (conversation_id, last_read_message_id) REFERENCES messages (conversation_id, id) ON DELETE CASCADE
);

-- Attachments: bytes kept either on disk/object storage (storage_path) or in the row (data).
CREATE TABLE files (
  id           BIGSERIAL PRIMARY KEY,
  uuid         UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  uploader_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- Null until the file is attached to a message.
  message_id   BIGINT REFERENCES messages (id) ON DELETE SET NULL,
  name         VARCHAR(255) NOT NULL,
  mime_type    VARCHAR(255) NOT NULL,
  size_bytes   BIGINT NOT NULL CHECK (size_bytes >= 0),
  storage_path TEXT,
  data         BYTEA,
  created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT files_one_location CHECK ((storage_path IS NULL) <> (data IS NULL))
);
CREATE INDEX files_message_idx ON files (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX files_uploader_idx ON files (uploader_id, created_at DESC);
