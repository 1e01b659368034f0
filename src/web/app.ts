/**
 * The web client served at `/` (web/index.html): plain DOM, no framework, on the client library
 * (../client). Every piece of content from the server is put in the page with `textContent` or as
 * an attribute value, never parsed as HTML; the page's Content-Security-Policy (routes-static.ts)
 * refuses inline scripts besides.
 */
import { decodeText, VezaClient, VezaError, type Message, type Room, type ServerEvents, type User } from '../client/index.js';

interface Conv {
  id: number;
  kind: 'room' | 'dm';
  name: string;
  /** A DM's other user. */
  other?: number;
  messages: Map<number, Message>;
  loaded: boolean;
  unread: number;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: { text?: string; cls?: string; attrs?: Record<string, string> } = {}, ...children: Node[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (props.text !== undefined) e.textContent = props.text;
  if (props.cls) e.className = props.cls;
  for (const [k, v] of Object.entries(props.attrs ?? {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function button(text: string, onClick: () => void, attrs: Record<string, string> = {}): HTMLButtonElement {
  const b = el('button', { text, attrs: { type: 'button', ...attrs } });
  b.addEventListener('click', onClick);
  return b;
}

const client = new VezaClient({ url: location.origin, pingIntervalMs: 10_000, pingTimeoutMs: 4_000 });
const convs = new Map<number, Conv>();
const presence = new Map<number, string>();
const typists = new Map<number, Map<number, { name: string; timer: number }>>();
let me: User | null = null;
let current: number | null = null;
let threadOf: number | null = null;
let editing: number | null = null;
let lastTypingSent = 0;

// ---------------------------------------------------------------- helpers

function showError(where: 'auth' | 'chat', e: unknown): void {
  const text = e instanceof VezaError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
  $(where === 'auth' ? 'auth-error' : 'chat-error').textContent = text;
}

function conv(id: number, kind: 'room' | 'dm', name: string, other?: number): Conv {
  let c = convs.get(id);
  if (!c) convs.set(id, (c = { id, kind, name, messages: new Map(), loaded: false, unread: 0 }));
  if (other !== undefined) c.other = other;
  return c;
}

function sorted(c: Conv): Message[] {
  return [...c.messages.values()].sort((a, b) => a.seq - b.seq);
}

function time(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// ---------------------------------------------------------------- rendering

function renderLists(): void {
  const rooms = $('rooms');
  const dms = $('dms');
  rooms.replaceChildren();
  dms.replaceChildren();
  for (const c of [...convs.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const b = button(c.kind === 'room' ? `# ${decodeText(c.name)}` : c.name, () => void open(c.id), { 'data-conv': String(c.id) });
    b.className = 'conv';
    if (c.id === current) b.setAttribute('aria-current', 'true');
    const li = el('li', {}, b);
    if (c.unread > 0) li.append(el('span', { cls: 'badge', text: String(c.unread), attrs: { 'aria-label': `${c.unread} unread` } }));
    (c.kind === 'room' ? rooms : dms).append(li);
  }
}

function messageItem(m: Message, inThread: boolean): HTMLLIElement {
  const li = el('li', { cls: m.is_deleted ? 'msg deleted' : 'msg', attrs: { 'data-id': String(m.id), 'data-seq': String(m.seq) } });
  const head = el('div', {}, el('span', { cls: 'author', text: m.author }), el('span', { cls: 'time', text: time(m.created_at) }));
  if (m.is_edited && !m.is_deleted) head.append(el('span', { cls: 'time', text: ' (edited)' }));
  li.append(head);
  if (editing === m.id && !inThread) {
    const form = el('form', { cls: 'composer' });
    const input = el('input', { attrs: { 'aria-label': 'Edit message', maxlength: '10000' } });
    input.value = decodeText(m.content);
    form.append(input, el('button', { text: 'Save', attrs: { type: 'submit' } }), button('Cancel', () => ((editing = null), renderMessages())));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const content = input.value;
      editing = null;
      renderMessages();
      client.editMessage(m.id, content).catch((e) => showError('chat', e));
    });
    li.append(form);
    queueMicrotask(() => input.focus());
    return li;
  }
  li.append(el('p', { cls: 'content', text: m.is_deleted ? 'message deleted' : decodeText(m.content) }));
  if (m.is_deleted) return li;
  const actions = el('div', { cls: 'actions' });
  for (const r of m.reactions ?? []) {
    const label = `${r.emoji} ${r.count}`;
    actions.append(
      button(label, () => void (r.reacted ? client.removeReaction(m.id, r.emoji) : client.addReaction(m.id, r.emoji)).catch((e) => showError('chat', e)), {
        class: 'reaction',
        'aria-pressed': String(r.reacted),
        'aria-label': `${r.emoji} reaction, ${r.count}`,
      }),
    );
  }
  if (!(m.reactions ?? []).some((r) => r.emoji === '👍')) {
    actions.append(button('👍', () => void client.addReaction(m.id, '👍').catch((e) => showError('chat', e)), { 'aria-label': `React with thumbs up to ${m.author}'s message` }));
  }
  if (!inThread && m.parent_message_id === null) {
    const n = m.thread_count;
    const label = `Reply in thread to ${m.author}'s message${n > 0 ? `, ${n} ${n === 1 ? 'reply' : 'replies'}` : ''}`;
    actions.append(button(n > 0 ? `Reply (${n})` : 'Reply', () => void openThread(m.id), { 'aria-label': label }));
  }
  if (me && m.author_id === me.id) {
    actions.append(button('Edit', () => ((editing = m.id), renderMessages())));
    actions.append(button('Delete', () => void client.deleteMessage(m.id).catch((e) => showError('chat', e))));
  }
  li.append(actions);
  return li;
}

function renderMessages(): void {
  const list = $('messages');
  const c = current === null ? undefined : convs.get(current);
  if (!c) return void list.replaceChildren();
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  // Top-level messages in the pane; replies in their thread, counted on their parent.
  list.replaceChildren(...sorted(c).filter((m) => m.parent_message_id === null).map((m) => messageItem(m, false)));
  if (atBottom) list.scrollTop = list.scrollHeight;
  renderThread();
}

function renderThread(): void {
  const section = $('thread');
  const c = current === null ? undefined : convs.get(current);
  const parent = threadOf === null ? undefined : c?.messages.get(threadOf);
  if (!c || !parent) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  $('thread-parent').replaceChildren(messageItem(parent, true));
  $('thread-messages').replaceChildren(...sorted(c).filter((m) => m.parent_message_id === parent.id).map((m) => messageItem(m, true)));
}

function renderTyping(): void {
  const names = current === null ? [] : [...(typists.get(current)?.values() ?? [])].map((t) => t.name);
  $('typing').textContent = names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
}

async function renderMembers(): Promise<void> {
  const list = $('members');
  const c = current === null ? undefined : convs.get(current);
  if (!c) return void list.replaceChildren();
  if (c.kind === 'dm') {
    // A DM's other user, with the presence the DM's events tell.
    const status = c.other === undefined ? undefined : presence.get(c.other);
    list.replaceChildren(
      el('li', { attrs: c.other === undefined ? {} : { 'data-user': String(c.other) } }, el('span', { text: c.name }), el('span', { cls: 'status', text: status ?? 'unknown', attrs: { 'data-status': status ?? 'unknown' } })),
    );
    return;
  }
  const { members } = await client.members(c.id, { limit: 100 });
  for (const m of members) presence.set(m.user_id, m.status);
  list.replaceChildren(
    ...members.map((m) => {
      const li = el('li', { attrs: { 'data-user': String(m.user_id) } }, el('span', { text: m.username }), el('span', { cls: 'status', text: presence.get(m.user_id) ?? m.status, attrs: { 'data-status': presence.get(m.user_id) ?? m.status } }));
      if (me && m.user_id !== me.id) li.append(button('Message', () => void openDm(m.user_id, m.username), { 'aria-label': `Direct message ${m.username}` }));
      return li;
    }),
  );
}

// ---------------------------------------------------------------- actions

async function open(id: number): Promise<void> {
  const c = convs.get(id);
  if (!c) return;
  current = id;
  threadOf = null;
  editing = null;
  c.unread = 0;
  $('conv-title').textContent = c.kind === 'room' ? `# ${decodeText(c.name)}` : c.name;
  $('composer').hidden = false;
  renderLists();
  renderMessages();
  renderTyping();
  try {
    if (!c.loaded) {
      if (c.kind === 'room') await client.join(id);
      const page = await client.fetchHistory(id, { limit: 100 });
      for (const m of page.messages) if (!c.messages.has(m.id)) c.messages.set(m.id, m);
      // A DM is followed from what history showed; a room from its join.
      const last = page.messages.at(-1);
      if (c.kind === 'dm') client.follow(id, last?.seq ?? 0);
      c.loaded = true;
      renderMessages();
    }
    await renderMembers();
  } catch (e) {
    showError('chat', e);
  }
  $('composer-input').focus();
}

async function openThread(id: number): Promise<void> {
  threadOf = id;
  renderThread();
  $('thread-input').focus();
}

async function openDm(userId: number, username: string): Promise<void> {
  try {
    const dm = await client.createDm(userId);
    conv(dm.conversation_id, 'dm', username, userId);
    await open(dm.conversation_id);
  } catch (e) {
    showError('chat', e);
  }
}

async function send(content: string, parentId?: number): Promise<void> {
  const c = current === null ? undefined : convs.get(current);
  if (!c || content.trim() === '') return;
  const opts = parentId === undefined ? {} : { parentId };
  try {
    if (c.kind === 'room') await client.sendMessage(c.id, content, opts);
    else await client.sendDm(c.id, content, opts);
    void client.typing(c.id, 'stop').catch(() => {});
    lastTypingSent = 0;
  } catch (e) {
    showError('chat', e);
  }
}

async function loadLists(): Promise<void> {
  const [{ rooms }, { conversations }] = await Promise.all([client.listRooms(), client.listDms()]);
  for (const r of rooms) conv(r.id, 'room', r.name);
  for (const d of conversations) {
    const c = conv(d.conversation_id, 'dm', d.other_user.username, d.other_user.id);
    c.unread = d.unread_count;
    // Followed from what the list counted (opening it shows the history up to there): what the
    // other user sends while this page is offline comes with the resume after the reconnection,
    // even for a DM that has had no live event since the page loaded.
    client.follow(d.conversation_id, d.last_seq);
  }
  renderLists();
}

async function enter(user: User): Promise<void> {
  me = user;
  $('me').textContent = `signed in as ${user.username}`;
  $('auth-view').hidden = true;
  $('chat-view').hidden = false;
  $('logout').hidden = false;
  await client.connect();
  await loadLists();
  const first = $('rooms').querySelector('button');
  (first ?? $('room-name')).focus();
}

// ---------------------------------------------------------------- live events

function upsert(m: Message): void {
  const c = conv(m.conversation_id, m.room_id === undefined ? 'dm' : 'room', m.room_id === undefined ? m.author : `room ${m.conversation_id}`);
  c.messages.set(m.id, { ...m, reactions: m.reactions ?? [] });
  if (m.parent_message_id !== null) {
    const parent = c.messages.get(m.parent_message_id);
    if (parent) parent.thread_count += 1;
  }
  if (c.id !== current) {
    if (!me || m.author_id !== me.id) c.unread += 1;
    renderLists();
  } else renderMessages();
}

function change(conversationId: number, messageId: number, f: (m: Message) => void): void {
  const m = convs.get(conversationId)?.messages.get(messageId);
  if (!m) return;
  f(m);
  if (conversationId === current) renderMessages();
}

function react(d: ServerEvents['reaction_added'], delta: 1 | -1): void {
  change(d.conversation_id, d.message_id, (m) => {
    const list = (m.reactions ??= []);
    let r = list.find((x) => x.emoji === d.emoji);
    if (!r) list.push((r = { emoji: d.emoji, count: 0, reacted: false }));
    r.count += delta;
    if (me && d.user_id === me.id) r.reacted = delta === 1;
    if (r.count <= 0) list.splice(list.indexOf(r), 1);
  });
}

client.on('message', upsert);
client.on('message_edited', (d) =>
  change(d.conversation_id, d.message_id, (m) => Object.assign(m, { content: d.content, is_edited: true, edit_count: d.edit_count, edited_at: d.edited_at })),
);
client.on('message_deleted', (d) => change(d.conversation_id, d.message_id, (m) => Object.assign(m, { is_deleted: true, content: '', reactions: [] })));
client.on('reaction_added', (d) => react(d, 1));
client.on('reaction_removed', (d) => react(d, -1));
client.on('message_pinned', (d) => change(d.conversation_id, d.message_id, (m) => (m.is_pinned = true)));
client.on('message_unpinned', (d) => change(d.conversation_id, d.message_id, (m) => (m.is_pinned = false)));
client.on('gap', (d) => {
  // Events the server could not replay: read the conversation again.
  const c = convs.get(d.conversation_id);
  if (!c) return;
  c.messages.clear();
  c.loaded = false;
  if (c.id === current) void open(c.id);
});
client.on('typing', (d) => {
  if (me && d.user_id === me.id) return;
  let map = typists.get(d.conversation_id);
  if (!map) typists.set(d.conversation_id, (map = new Map()));
  clearTimeout(map.get(d.user_id)?.timer);
  if (d.state === 'start') {
    const m = map;
    const timer = window.setTimeout(() => (m.delete(d.user_id), renderTyping()), 6000);
    map.set(d.user_id, { name: d.username, timer });
  } else map.delete(d.user_id);
  renderTyping();
});
client.on('presence', (d) => {
  presence.set(d.user_id, d.status);
  for (const li of $('members').querySelectorAll<HTMLElement>(`li[data-user="${d.user_id}"] .status`)) {
    li.textContent = d.status;
    li.setAttribute('data-status', d.status);
  }
});
client.on('dm_created', (d) => {
  if (!me || convs.has(d.conversation_id)) return;
  const other = d.user_ids.find((u) => u !== me!.id) ?? me.id;
  void client.getUser(other).then((u) => (conv(d.conversation_id, 'dm', u.username, u.id), renderLists()));
});
client.on('member_joined', (d) => d.room_id === current && void renderMembers().catch(() => {}));
client.on('member_left', (d) => d.room_id === current && void renderMembers().catch(() => {}));
client.on('room_updated', ({ room }: { room: Room }) => {
  const c = convs.get(room.id);
  if (c) (c.name = room.name), renderLists();
});
client.on('room_deleted', (d) => {
  convs.delete(d.room_id);
  if (current === d.room_id) (current = null), renderMessages();
  renderLists();
});
client.on('state', ({ state }) => {
  const conn = $('conn');
  conn.setAttribute('data-state', state);
  conn.textContent = state === 'open' ? 'connected' : state === 'reconnecting' ? 'reconnecting…' : state;
});
client.on('tokens', (t) => sessionStorage.setItem('veza.tokens', JSON.stringify({ ...t, user: me ?? client.user })));
client.on('session_expired', () => {
  sessionStorage.removeItem('veza.tokens');
  location.reload();
});

// A browser knows when the network goes (check the link now rather than at the next ping) and
// when it comes back (reconnect now rather than at the end of the backoff).
window.addEventListener('online', () => client.reconnectNow());
window.addEventListener('offline', () => client.reconnectNow());

// ---------------------------------------------------------------- forms

$('auth-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const username = $<HTMLInputElement>('auth-username').value.trim();
  const password = $<HTMLInputElement>('auth-password').value;
  $('auth-error').textContent = '';
  client.login(username, password).then(enter, (e) => showError('auth', e));
});
$('register').addEventListener('click', () => {
  const username = $<HTMLInputElement>('auth-username').value.trim();
  const email = $<HTMLInputElement>('auth-email').value.trim();
  const password = $<HTMLInputElement>('auth-password').value;
  $('auth-error').textContent = '';
  client
    .register(username, email, password)
    .then(() => client.login(username, password))
    .then(enter, (e) => showError('auth', e));
});
$('logout').addEventListener('click', () => {
  sessionStorage.removeItem('veza.tokens');
  void client.logout().finally(() => location.reload());
});
$('room-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>('room-name');
  const name = input.value.trim();
  if (!name) return;
  client.createRoom({ name }).then(
    (room) => {
      input.value = '';
      conv(room.id, 'room', room.name);
      return open(room.id);
    },
    (e) => showError('chat', e),
  );
});
$('composer').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>('composer-input');
  const content = input.value;
  input.value = '';
  void send(content);
});
$('composer-input').addEventListener('input', () => {
  if (current === null || Date.now() - lastTypingSent < 3000) return;
  lastTypingSent = Date.now();
  void client.typing(current, 'start').catch(() => {});
});
$('thread-composer').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>('thread-input');
  const content = input.value;
  input.value = '';
  if (threadOf !== null) void send(content, threadOf);
});
$('thread-close').addEventListener('click', () => {
  threadOf = null;
  renderThread();
  $('composer-input').focus();
});

// A reload in the same tab keeps the session (sessionStorage: gone with the tab).
const saved = sessionStorage.getItem('veza.tokens');
if (saved) {
  try {
    const t = JSON.parse(saved);
    client.useTokens(t, t.user);
    if (t.user) void enter(t.user).catch((e) => showError('chat', e));
  } catch {
    sessionStorage.removeItem('veza.tokens');
  }
}
