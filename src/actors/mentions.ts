/**
 * `@username` mentions in a message's content (PROTOCOL.md "Mentions"). This file only reads the
 * text; the RoomActor decides who of the names may see the conversation and writes the ids into
 * `metadata.mentions`.
 */

/** At most this many distinct names are looked at per message; later ones are ignored. */
export const MAX_MENTIONS = 20;

/**
 * `@` not preceded by a username character (so `alice@example.com` mentions nobody), then a
 * username's characters (src/protocol/rest.ts USERNAME), as many as a username may hold.
 */
const MENTION = /(?<![A-Za-z0-9_.-])@([A-Za-z0-9_.-]{1,50})/g;

/** A name as written, and the same without trailing `.`/`-` (`@bob.` at the end of a sentence). */
export interface MentionCandidate {
  name: string;
  trimmed: string | null;
}

/**
 * The names mentioned in `content`, lower-cased, in order of first appearance, without repeats,
 * at most `max`. Callers check for `@` first: content without one costs nothing here.
 */
export function mentionCandidates(content: string, max = MAX_MENTIONS): MentionCandidate[] {
  const out: MentionCandidate[] = [];
  const seen = new Set<string>();
  for (const m of content.matchAll(MENTION)) {
    const name = m[1]!.toLowerCase();
    if (seen.has(name)) continue;
    seen.add(name);
    const trimmed = name.replace(/[.-]+$/, '');
    out.push({ name, trimmed: trimmed !== name && trimmed.length > 0 ? trimmed : null });
    if (out.length >= max) break;
  }
  return out;
}

/** Every name to look up for `candidates` (each as written, and trimmed). */
export function namesToLookUp(candidates: readonly MentionCandidate[]): string[] {
  const names = new Set<string>();
  for (const c of candidates) {
    names.add(c.name);
    if (c.trimmed !== null) names.add(c.trimmed);
  }
  return [...names];
}

/**
 * The ids `candidates` name, in order, without repeats: the name as written when it is a user,
 * else its trimmed form. `visible` says whether a user may see the conversation.
 */
export function resolveMentions(
  candidates: readonly MentionCandidate[],
  ids: ReadonlyMap<string, number>,
  visible: (userId: number) => boolean,
): number[] {
  const out: number[] = [];
  for (const c of candidates) {
    const id = ids.get(c.name) ?? (c.trimmed !== null ? ids.get(c.trimmed) : undefined);
    if (id !== undefined && !out.includes(id) && visible(id)) out.push(id);
  }
  return out;
}
