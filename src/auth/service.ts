/**
 * Registration, login, token refresh, logout and password change (PROTOCOL.md "REST" and
 * "Tokens"), with the login defence (./throttle.ts, ./hash-gate.ts, ./password-policy.ts), ended
 * sessions (./sessions.ts) and the `auth.*` audit entries. Transport-free: the REST routes, the CLI
 * and the WebSocket front call it with untrusted input, which it checks.
 */
import { randomBytes } from 'node:crypto';
import { configSchema, type Config } from '../config/index.js';
import { ChatError } from '../errors.js';
import { log as rootLog, type Logger } from '../log.js';
import { buildRestSchemas, parseRest, type RestSchemas } from '../protocol/rest.js';
import type { Store } from '../store/store.js';
import type { User, UserRole } from '../store/types.js';
import type { PasswordHasher } from './hasher.js';
import { HashGate, HashPriority } from './hash-gate.js';
import { bearerToken, type AccessClaims, type AccessTokens } from './jwt.js';
import { checkNewPassword } from './password-policy.js';
import { hashRefreshToken, isWellFormedRefreshToken, newFamilyId, newRefreshToken } from './refresh.js';
import { isUserBanned } from '../store/moderation-sql.js';
import type { SessionRevoker } from './sessions.js';
import { LoginThrottle, sourceKey, type ThrottleSettings } from './throttle.js';

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
  | 'revokeUserRefreshTokens'
  | 'setPasswordHash'
  | 'audit'
>;

/** Where a request came from (the audit trail's `ip`, the per-source throttles' key). */
export interface RequestContext {
  ip?: string | undefined;
}

/** Password checks of one account running or queued at once on a front; more are `rate_limited`. */
const MAX_CHECKS_PER_ACCOUNT = 2;

export interface AuthServiceOptions {
  store: AuthStore;
  hasher: PasswordHasher;
  tokens: AccessTokens;
  /** Config `auth`: refresh lifetime and grace, login throttles, hashing admission, minimum password length. */
  settings: Pick<Config['auth'], 'refreshTtlS' | 'minPasswordLength'> & Partial<AuthTuning>;
  /** The login throttles' table, shared by the node's fronts (./shared-table.ts); this thread's own when not given. */
  throttleBuffer?: SharedArrayBuffer;
  /** Hashes running at once (the CPU pool's threads); 2 when not given. */
  hashConcurrency?: number;
  /** Ends sessions on the node (logout, reuse, password change); without it (the CLI) only the store revokes. */
  sessions?: SessionRevoker;
  /** The REST body schemas (src/protocol/rest.ts); built from `settings` when not given. */
  schemas?: AuthSchemas;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  log?: Logger;
  /** The content pipeline's check of a name (its word filter), for usernames; throws `content_rejected`. */
  checkUsername?: (username: string) => void;
}

export type AuthSchemas = Pick<RestSchemas, 'register' | 'login' | 'refresh' | 'logout' | 'changePassword'>;

type AuthTuning = ThrottleSettings & Pick<Config['auth'], 'hashMaxQueued' | 'hashPerSource' | 'refreshGraceS'>;
const DEFAULT_TUNING: AuthTuning = (() => {
  const a = configSchema.shape.auth.parse(undefined);
  return {
    loginAttempts: a.loginAttempts,
    loginWindowS: a.loginWindowS,
    loginDelayMs: a.loginDelayMs,
    loginMaxDelayS: a.loginMaxDelayS,
    accountLoginAttempts: a.accountLoginAttempts,
    accountMaxDelayS: a.accountMaxDelayS,
    sourceAttemptsPerMinute: a.sourceAttemptsPerMinute,
    hashMaxQueued: a.hashMaxQueued,
    hashPerSource: a.hashPerSource,
    refreshGraceS: a.refreshGraceS,
  };
})();

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
  checkNewPassword(username, password);
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

/** The source key of a request without an address (the CLI, tests calling the service). */
const NO_SOURCE = 'local';

export class AuthService {
  readonly #store: AuthStore;
  readonly #hasher: PasswordHasher;
  readonly #tokens: AccessTokens;
  readonly #settings: AuthServiceOptions['settings'] & AuthTuning;
  /** Password checks in flight per account on this front (see login). */
  readonly #inflight = new Map<number, number>();
  readonly #checkUsername: ((username: string) => void) | null;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #schemas: AuthSchemas;
  readonly #throttle: LoginThrottle;
  readonly #gate: HashGate;
  readonly #sessions: SessionRevoker | null;
  /** A hash of a random password, checked when the user is unknown so both failures cost the same. */
  #decoy: Promise<string> | undefined;

  constructor(opts: AuthServiceOptions) {
    this.#store = opts.store;
    this.#hasher = opts.hasher;
    this.#tokens = opts.tokens;
    this.#settings = { ...DEFAULT_TUNING, ...opts.settings };
    this.#now = opts.now ?? Date.now;
    this.#log = (opts.log ?? rootLog).child({ component: 'auth' });
    this.#schemas = opts.schemas ?? buildRestSchemas({ auth: opts.settings, limits: DEFAULT_LIMITS });
    this.#throttle = new LoginThrottle(this.#settings, this.#now, opts.throttleBuffer);
    this.#gate = new HashGate({
      concurrency: opts.hashConcurrency ?? 2,
      maxQueued: this.#settings.hashMaxQueued,
      perSource: this.#settings.hashPerSource,
    });
    this.#sessions = opts.sessions ?? null;
    this.#checkUsername = opts.checkUsername ?? null;
  }

  /** A new `user` account (see `createAccount`); throttled per source. */
  async register(input: unknown, ctx: RequestContext = {}): Promise<User> {
    const source = ctx.ip === undefined ? NO_SOURCE : sourceKey(ctx.ip);
    this.#throttle.takeAttempt(source);
    const hasher: PasswordHasher = {
      hash: (password) => this.#gate.run(HashPriority.Register, source, () => this.#hasher.hash(password)),
      verify: (password, encoded) => this.#hasher.verify(password, encoded),
    };
    // The register schema allows only `A-Z a-z 0-9 _ . -`; the word filter (PROTOCOL.md "Content") is the pipeline's.
    this.#checkUsername?.(parseRest(this.#schemas.register, input).username);
    const user = await createAccount({ store: this.#store, hasher, schema: this.#schemas.register, log: this.#log }, input);
    await this.#audit(user.id, 'auth.register', 'user', String(user.id), ctx);
    return user;
  }

  /**
   * Throttled per source (attempts a minute) and per account (an exponential delay after failures,
   * ./throttle.ts): never locked once the delay is over. An unknown user and a wrong password give
   * the same 401 after the same hashing (while the server is not flooded, ./hash-gate.ts). Every
   * checked attempt is audited, with its source.
   */
  async login(input: unknown, ctx: RequestContext = {}): Promise<LoginResult> {
    const source = ctx.ip === undefined ? NO_SOURCE : sourceKey(ctx.ip);
    const { username, password } = parseRest(this.#schemas.login, input);
    this.#throttle.takeAttempt(source);
    const creds = await this.#store.getCredentials(username);
    if (!creds) {
      const decoy = await this.#decoyHash(source);
      await this.#gate.run(HashPriority.Decoy, source, () => this.#hasher.verify(password, decoy));
      await this.#audit(null, 'auth.login_failed', 'user', null, ctx, { username, reason: 'unknown_user' });
      throw badCredentials();
    }
    this.#throttle.check(creds.id, source);
    // Failures are counted when a check ends: without a bound on the checks in flight, a burst on
    // one account from many sources got ~130 checks past the throttle and filled the hashing queue
    // ahead of other users' logins (black-box test, 140 at once). A few at a time per account.
    const inflight = this.#inflight.get(creds.id) ?? 0;
    if (inflight >= MAX_CHECKS_PER_ACCOUNT) throw new ChatError('rate_limited', 'too many logins for this account at once', { retryAfterMs: 1000 });
    this.#inflight.set(creds.id, inflight + 1);
    let ok: boolean;
    try {
      ok = await this.#gate.run(HashPriority.Account, source, () => this.#hasher.verify(password, creds.password_hash));
    } finally {
      const left = (this.#inflight.get(creds.id) ?? 1) - 1;
      if (left <= 0) this.#inflight.delete(creds.id);
      else this.#inflight.set(creds.id, left);
    }
    if (!ok) {
      const failures = this.#throttle.failed(creds.id, source);
      this.#log.info('login failed', { user_id: creds.id, ip: ctx.ip, failures });
      await this.#audit(creds.id, 'auth.login_failed', 'user', String(creds.id), ctx, { username: creds.username, reason: 'wrong_password' });
      throw badCredentials();
    }
    if (!creds.is_active) {
      await this.#audit(creds.id, 'auth.login_failed', 'user', String(creds.id), ctx, { username: creds.username, reason: 'disabled' });
      throw new ChatError('forbidden', 'this account is disabled');
    }
    if (isUserBanned(creds, this.#now())) {
      await this.#audit(creds.id, 'auth.login_failed', 'user', String(creds.id), ctx, { username: creds.username, reason: 'banned' });
      throw bannedError(creds);
    }
    this.#throttle.succeeded(creds.id, source);
    const pair = await this.#openSession(creds);
    await this.#store.touchUser(creds.id);
    await this.#audit(creds.id, 'auth.login', 'user', String(creds.id), ctx, { session: pair.sid });
    return {
      access_token: pair.access_token,
      refresh_token: pair.refresh_token,
      expires_in: pair.expires_in,
      user: { id: creds.id, username: creds.username, role: creds.role },
    };
  }

  /**
   * Spend a refresh token for a new pair. The old token is dead afterwards; presenting it again
   * within `refreshGraceS` of that rotation (two tabs, a retry after a lost answer) gets the same
   * pair again: the new refresh token is derived from the old one with the node's secret, and the
   * access token from the stored rotation, so both answers are identical. Presenting it later means
   * it was stolen or replayed: its whole session is revoked, its access tokens refused at once and
   * its sockets closed.
   */
  async refresh(input: unknown, ctx: RequestContext = {}): Promise<TokenPair> {
    const { refresh_token } = parseRest(this.#schemas.refresh, input);
    if (!isWellFormedRefreshToken(refresh_token)) throw badRefresh();
    const next = this.#tokens.derive('refresh-rotation', refresh_token);
    const nextHash = hashRefreshToken(next);
    const result = await this.#store.rotateRefreshToken(hashRefreshToken(refresh_token), nextHash, this.#refreshExpiry(), this.#settings.refreshGraceS);
    if (result.kind === 'invalid') throw badRefresh();
    if (result.kind === 'reused') {
      this.#log.warn('spent refresh token reused: session revoked', { user_id: result.userId, family: result.familyId });
      this.#sessions?.sessionRevoked(result.userId, result.familyId, 'refresh token reused');
      await this.#audit(result.userId, 'auth.refresh_reuse', 'session', result.familyId, ctx, {});
      throw badRefresh();
    }
    const user = await this.#store.getUser(result.userId);
    if (!user || !user.is_active) {
      await this.#store.revokeRefreshToken(nextHash);
      throw badRefresh();
    }
    if (isUserBanned(user, this.#now())) {
      await this.#store.revokeRefreshToken(nextHash);
      throw bannedError(user);
    }
    const iat = Math.floor(result.issuedAt.getTime() / 1000);
    const access = await this.#tokens.sign(user, { sid: result.familyId, iat, jti: this.#tokens.derive('jti', next).slice(0, 22) });
    await this.#audit(user.id, 'auth.refresh', 'session', result.familyId, ctx, result.retried ? { retried: true } : {});
    return { access_token: access.token, refresh_token: next, expires_in: access.expiresIn };
  }

  /**
   * Revoke the token's session: its refresh tokens, its access tokens (at once, every front), its
   * sockets. Idempotent: an unknown or spent token is not an error.
   */
  async logout(input: unknown, ctx: RequestContext = {}): Promise<void> {
    const { refresh_token } = parseRest(this.#schemas.logout, input);
    if (!isWellFormedRefreshToken(refresh_token)) return;
    const revoked = await this.#store.revokeRefreshToken(hashRefreshToken(refresh_token));
    if (revoked === null) return;
    this.#sessions?.sessionRevoked(revoked.userId, revoked.familyId, 'logged out');
    await this.#audit(revoked.userId, 'auth.logout', 'session', revoked.familyId, ctx, {});
  }

  /**
   * `POST /auth/password`: the current password, then the new one (the registration rules). Every
   * session of the user ends, this one too; the answer is a new login's pair.
   */
  async changePassword(claims: AccessClaims, input: unknown, ctx: RequestContext = {}): Promise<LoginResult> {
    const source = ctx.ip === undefined ? NO_SOURCE : sourceKey(ctx.ip);
    const { current_password, new_password } = parseRest(this.#schemas.changePassword, input);
    const user = await this.#store.getUser(claims.user_id);
    if (!user) throw new ChatError('unauthenticated', 'this account no longer exists');
    const creds = await this.#store.getCredentials(user.username);
    if (!creds) throw new ChatError('unauthenticated', 'this account no longer exists');
    this.#throttle.check(creds.id, source);
    checkNewPassword(creds.username, new_password, 'new_password');
    const ok = await this.#gate.run(HashPriority.Account, source, () => this.#hasher.verify(current_password, creds.password_hash));
    if (!ok) {
      this.#throttle.failed(creds.id, source);
      await this.#audit(creds.id, 'auth.password_change_failed', 'user', String(creds.id), ctx, {});
      throw new ChatError('unauthenticated', 'current password is wrong');
    }
    const hash = await this.#gate.run(HashPriority.Account, source, () => this.#hasher.hash(new_password));
    await this.#store.setPasswordHash(creds.id, hash);
    if (this.#sessions) await this.#sessions.revokeUserSessions(creds.id, 'password changed', { actorId: creds.id, ip: ctx.ip ?? null });
    else await this.#store.revokeUserRefreshTokens(creds.id);
    // A new session, issued after the revocation of every earlier one (its tokens are younger).
    await this.#waitNextSecond();
    const pair = await this.#openSession(creds);
    await this.#audit(creds.id, 'auth.password_changed', 'user', String(creds.id), ctx, { session: pair.sid });
    return { access_token: pair.access_token, refresh_token: pair.refresh_token, expires_in: pair.expires_in, user: { id: creds.id, username: creds.username, role: creds.role } };
  }

  /** The claims of an `Authorization: Bearer` header; `unauthenticated` if absent, invalid or revoked. */
  authenticate(authorization: string | undefined): AccessClaims {
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

  async #openSession(user: User): Promise<TokenPair & { sid: string }> {
    const refresh = newRefreshToken();
    const sid = newFamilyId();
    await this.#store.insertRefreshToken({ userId: user.id, tokenHash: refresh.hash, familyId: sid, expiresAt: this.#refreshExpiry() });
    const access = await this.#tokens.sign(user, { sid });
    return { access_token: access.token, refresh_token: refresh.token, expires_in: access.expiresIn, sid };
  }

  /** A user revocation refuses tokens issued up to the second it happened in (./revocations.ts). */
  async #waitNextSecond(): Promise<void> {
    const ms = 1000 - (this.#now() % 1000);
    await new Promise((r) => setTimeout(r, ms + 5));
  }

  async #audit(actorId: number | null, action: string, targetType: string, targetId: string | null, ctx: RequestContext, details: Record<string, unknown> = {}): Promise<void> {
    await this.#store.audit({ actorId, action, targetType, targetId, details, ip: ctx.ip ?? null });
  }

  #refreshExpiry(): Date {
    return new Date(this.#now() + this.#settings.refreshTtlS * 1000);
  }

  #decoyHash(source: string): Promise<string> {
    // A failed hash (a full CPU pool) is not kept: the next login tries again.
    this.#decoy ??= this.#gate.run(HashPriority.Decoy, source, () => this.#hasher.hash(randomBytes(16).toString('base64url'))).catch((e: unknown) => {
      this.#decoy = undefined;
      throw e;
    });
    return this.#decoy;
  }
}
