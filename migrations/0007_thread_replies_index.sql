-- A thread's replies are read by parent and paged by id (GET /messages/:id/thread, newest page
-- first): (parent_message_id, id) answers a page from the index in order, where the index on
-- parent_message_id alone had every reply of the thread fetched and sorted for each page. Still
-- partial: a message that replies to nothing (most of them) costs no entry, as before.
CREATE INDEX messages_thread_idx ON messages (parent_message_id, id) WHERE parent_message_id IS NOT NULL;
DROP INDEX messages_parent_idx;
