import type { Method, Route } from './types.js';

/**
 * A route table: a trie of path segments. A literal segment wins over a parameter at the same
 * depth (`/users/me` before `/users/:id`), whatever order the routes were given in.
 */
interface Node {
  literal: Map<string, Node>;
  param: { name: string; node: Node } | undefined;
  routes: Map<string, Route>;
}

export type Match =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  /** The path exists for other methods: answer 405 with `Allow`. */
  | { kind: 'method_not_allowed'; allow: Method[] }
  | { kind: 'not_found' };

const node = (): Node => ({ literal: new Map(), param: undefined, routes: new Map() });

/** Split a path into segments, ignoring a trailing slash (`/health/` is `/health`). */
function segments(path: string): string[] {
  const parts = path.split('/');
  if (parts[0] === '') parts.shift();
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

export class Router {
  readonly #root = node();

  constructor(routes: Iterable<Route> = []) {
    for (const r of routes) this.add(r);
  }

  add(route: Route): this {
    let at = this.#root;
    for (const seg of segments(route.path)) {
      if (seg.startsWith(':')) {
        const name = seg.slice(1);
        if (!name) throw new Error(`route ${route.path}: empty parameter name`);
        if (at.param && at.param.name !== name) {
          throw new Error(`route ${route.path}: parameter :${name} conflicts with :${at.param.name}`);
        }
        at.param ??= { name, node: node() };
        at = at.param.node;
      } else {
        let next = at.literal.get(seg);
        if (!next) at.literal.set(seg, (next = node()));
        at = next;
      }
    }
    if (at.routes.has(route.method)) throw new Error(`duplicate route ${route.method} ${route.path}`);
    at.routes.set(route.method, route);
    return this;
  }

  /** `path` raw from the request line (percent-encoded); parameters come back decoded. */
  match(method: string, path: string): Match {
    const params: Record<string, string> = {};
    const found = this.#walk(this.#root, segments(path), 0, params);
    if (!found) return { kind: 'not_found' };
    const route = found.routes.get(method.toUpperCase());
    if (route) return { kind: 'found', route, params };
    return { kind: 'method_not_allowed', allow: [...found.routes.keys()] as Method[] };
  }

  #walk(at: Node, segs: string[], i: number, params: Record<string, string>): Node | null {
    if (i === segs.length) return at.routes.size > 0 ? at : null;
    const seg = segs[i]!;
    const lit = at.literal.get(seg);
    if (lit) {
      const hit = this.#walk(lit, segs, i + 1, params);
      if (hit) return hit;
    }
    if (at.param && seg !== '') {
      const hit = this.#walk(at.param.node, segs, i + 1, params);
      if (hit) {
        params[at.param.name] = decode(seg);
        return hit;
      }
    }
    return null;
  }
}

/** A malformed escape stays as sent; the handler's validation then refuses it. */
function decode(seg: string): string {
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
}
