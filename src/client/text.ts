/**
 * The server stores and sends content with `& < > " '` as entities (PROTOCOL.md "Content"): safe
 * to put into HTML as it is. A client that shows text another way (`textContent`, a native text
 * view, a terminal) decodes these five entities and nothing else, in one pass, so that an entity a
 * user typed (`&amp;lt;` on the wire) shows as they typed it (`&lt;`).
 */
const ENTITIES: Readonly<Record<string, string>> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

export function decodeText(s: string): string {
  return s.indexOf('&') < 0 ? s : s.replace(/&(?:amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e]!);
}
