/**
 * Registration, login, token refresh and logout (PROTOCOL.md "REST" and "Tokens"). Transport-free:
 * the REST routes, the CLI and the WebSocket front call it with untrusted input, which it checks.
 */
import { randomBytes } from 'node:crypto';
import { configSchema, type Config } from '../config/index.js';
import { ChatError } from '../errors.js';
import { log as rootLog, type Logger } from '../log.js';
import { buildRestSchemas, parseRest, type RestSchemas } from '../protocol/rest.js';
import type { Store } from '../store/store.js';
import type { User, UserRole } from '../store/types.js';
import type { PasswordHasher } from './hasher.js';
import { bearerToken, type AccessClaims, type AccessTokens } from './jwt.js';
import { hashRefreshToken, isWellFormedRefreshToken, newFamilyId, newRefreshToken } from './refresh.js';
import { isUserBanned } from '../store/moderation-sql.js';

/** A user as a client sees it: never the password hash; the e-mail only for the user or an admin. */
export interface PublicUser {
  id: number;
  username: string;
  email?: string;
  role: UserRole;
  created_at: string;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export interface LoginResult extends TokenPair {
  user: { id: number; username: string; role: UserRole };
}

export function publicUser(u: User, withEmail: boolean): PublicUser {
  return withEmail
    ? { id: u.id, username: u.username, email: u.email, role: u.role, created_at: u.created_at }
    : { id: u.id, username: u.username, role: u.role, created_at: u.created_at };
}

export type AuthStore = Pick<
  Store,
  | 'createUser'
  | 'getUser'
  | 'getCredentials'
  | 'touchUser'
  | 'insertRefreshToken'
  | 'rotateRefreshToken'
  | 'revokeRefreshToken'
  | 'recordLoginFailure'
  | 'loginFailures'
  | 'clearLoginFailures'
  | 'audit'
>;

export interface AuthServiceOptions {
  store: AuthStore;
  hasher: PasswordHasher;
  tokens: AccessTokens;
  /** Config `auth`: refresh lifetime, login attempts and window, minimum password length. */
  settings: Pick<Config['auth'], 'refreshTtlS' | 'loginAttempts' | 'loginWindowS' | 'minPasswordLength'>;
  /** The REST body schemas (src/protocol/rest.ts); built from `settings` when not given. */
  schemas?: AuthSchemas;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  log?: Logger;
}

export type AuthSchemas = Pick<RestSchemas, 'register' | 'login' | 'refresh' | 'logout'>;

/**
 * Check `input`, hash the password and store the user. `role` is for trusted callers (the operator
 * CLI); REST registration is always `user`. A duplicate username or e-mail is `conflict` (the
 * store's unique constraints); nothing is written when anything fails.
 */
export async function createAccount(
  deps: { store: Pick<Store, 'createUser'>; hasher: PasswordHasher; schema: AuthSchemas['register']; log?: Logger },
  input: unknown,
  role: UserRole = 'user',
): Promise<User> {
  const { username, email, password } = parseRest(deps.schema, input);
  const passwordHash = await deps.hasher.hash(password);
  const user = await deps.store.createUser({ username, email, passwordHash, role });
  (deps.log ?? rootLog).info('user created', { user_id: user.id, role });
  return user;
}

/** Only `auth` matters to the auth schemas; the content limit is a placeholder for the type. */
const DEFAULT_LIMITS = configSchema.shape.limits.parse(undefined);

const badCredentials = () => new ChatError('unauthenticated', 'invalid username or password');
const badRefresh = () => new ChatError('unauthenticated', 'invalid refresh token');
/** A globally banned user (PROTOCOL.md "Moderation"): 403, checked after the password, like a disabled account. */
const bannedError = (u: User) =>
  new ChatError('forbidden', u.banned_until === null ? 'this account is banned' : `this account is banned until ${u.banned_until}`);

export class AuthService {
  readonly #store: AuthStore;
  readonly #hasher: PasswordHasher;
  readonly #tokens: AccessTokens;
  readonly #settings: AuthServiceOptions['settings'];
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #schemas: AuthSchemas;
  /** A hash of a random password, checked when the user is unknown so both failures cost the same. */
  #decoy: Promise<string> | undefined;

  constructor(opts: AuthServiceOptions) {
    this.#store = opts.store;
    this.#hasher = opts.hasher;
    this.#tokens = opts.tokens;
    this.#settings = opts.settings;
    this.#now = opts.now ?? Date.now;
    this.#log = (opts.log ?? rootLog).child({ component: 'auth' });
    this.#schemas = opts.schemas ?? buildRestSchemas({ auth: opts.settings, limits: DEFAULT_LIMITS });
  }

  /** A new `user` account (see `createAccount`). */
  async register(input: unknown): Promise<User> {
    return createAccount({ store: this.#store, hasher: this.#hasher, schema: this.#schemas.register, log: this.#log }, input);
  }

  /**
   * Failed logins are counted per account in the store (so across threads and nodes): after
   * `loginAttempts` failures within `loginWindowS`, the next attempt is 429 until the oldest of them
   * leaves the window, even with the right password. Success clears the count. An unknown user and
   * a wrong password give the same 401 after the same amount of hashing.
   */
  async login(input: unknown, ctx: { ip?: string } = {}): Promise<LoginResult> {
    const { username, password } = parseRest(this.#schemas.login, input);
    const creds = await this.#store.getCredentials(username);
    if (!creds) {
      await this.#hasher.verify(password, await this.#decoyHash());
      throw badCredentials();
    }
    const windowMs = this.#settings.loginWindowS * 1000;
    const now = this.#now();
    const failures = await this.#store.loginFailures(creds.id, new Date(now - windowMs));
    if (failures.count >= this.#settings.loginAttempts) {
      const oldest = failures.oldest?.getTime() ?? now;
      const retryAfterMs = Math.max(1000, oldest + windowMs - now);
      throw new ChatError('rate_limited', 'too many failed logins for this account; try again later', { retryAfterMs });
    }
    if (!(await this.#hasher.verify(password, creds.password_hash))) {
      await this.#store.recordLoginFailure(creds.id);
      this.#log.info('login failed', { user_id: creds.id, ip: ctx.ip, failures: failures.count + 1 });
      throw badCredentials();
    }
    if (!creds.is_active) throw new ChatError('forbidden', 'this account is disabled');
    if (isUserBanned(creds, this.#now())) throw bannedError(creds);
    if (failures.count > 0) await this.#store.clearLoginFailures(creds.id);

    const refresh = newRefreshToken();
    await this.#store.insertRefreshToken({
      userId: creds.id,
      tokenHash: refresh.hash,
      familyId: newFamilyId(),
      expiresAt: this.#refreshExpiry(),
    });
    const access = await this.#tokens.sign(creds);
    await this.#store.touchUser(creds.id);
    return {
      access_token: access.token,
      refresh_token: refresh.token,
      expires_in: access.expiresIn,
      user: { id: creds.id, username: creds.username, role: creds.role },
    };
  }

  /**
   * Spend a refresh token for a new pair. The old token is dead afterwards; presenting a spent one
   * again means it was stolen or replayed, so its whole family (every token descended from that
   * login, including the live one) is revoked.
   */
  async refresh(input: unknown): Promise<TokenPair> {
    const { refresh_token } = parseRest(this.#schemas.refresh, input);
    if (!isWellFormedRefreshToken(refresh_token)) throw badRefresh();
    const next = newRefreshToken();
    const result = await this.#store.rotateRefreshToken(hashRefreshToken(refresh_token), next.hash, this.#refreshExpiry());
    if (result.kind === 'invalid') throw badRefresh();
    if (result.kind === 'reused') {
      this.#log.warn('spent refresh token reused: family revoked', { user_id: result.userId, family: result.familyId });
      await this.#store.audit({
        actorId: result.userId,
        action: 'auth.refresh_reuse',
        targetType: 'refresh_family',
        targetId: result.familyId,
      });
      throw badRefresh();
    }
    const user = await this.#store.getUser(result.userId);
    if (!user || !user.is_active) {
      await this.#store.revokeRefreshToken(next.hash);
      throw badRefresh();
    }
    if (isUserBanned(user, this.#now())) {
      await this.#store.revokeRefreshToken(next.hash);
      throw bannedError(user);
    }
    const access = await this.#tokens.sign(user);
    return { access_token: access.token, refresh_token: next.token, expires_in: access.expiresIn };
  }

  /**
   * Revoke the token's family. Idempotent: an unknown or spent token is not an error. Returns the
   * id of the user the token belonged to (whose sockets the caller closes), or null if unknown.
   */
  async logout(input: unknown): Promise<number | null> {
    const { refresh_token } = parseRest(this.#schemas.logout, input);
    if (!isWellFormedRefreshToken(refresh_token)) return null;
    return this.#store.revokeRefreshToken(hashRefreshToken(refresh_token));
  }

  /** The claims of an `Authorization: Bearer` header; `unauthenticated` if absent or invalid. */
  async authenticate(authorization: string | undefined): Promise<AccessClaims> {
    const token = bearerToken(authorization);
    if (token === null) throw new ChatError('unauthenticated', 'missing bearer token');
    return this.#tokens.verify(token);
  }

  async me(claims: AccessClaims): Promise<PublicUser> {
    const user = await this.#store.getUser(claims.user_id);
    if (!user) throw new ChatError('unauthenticated', 'this account no longer exists');
    return publicUser(user, true);
  }

  /** Any user, as `viewer` may see them: the e-mail only for themselves or an admin. */
  async getUser(viewer: AccessClaims, id: number): Promise<PublicUser> {
    const user = await this.#store.getUser(id);
    if (!user) throw new ChatError('not_found', 'no such user');
    return publicUser(user, viewer.user_id === id || viewer.role === 'admin');
  }

  #refreshExpiry(): Date {
    return new Date(this.#now() + this.#settings.refreshTtlS * 1000);
  }

  #decoyHash(): Promise<string> {
    // A failed hash (a full CPU pool) is not kept: the next login tries again.
    this.#decoy ??= this.#hasher.hash(randomBytes(16).toString('base64url')).catch((e: unknown) => {
      this.#decoy = undefined;
      throw e;
    });
    return this.#decoy;
  }
}
