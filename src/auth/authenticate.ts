// Turning credentials into a principal: a user with a password or one of
// their personal auth tokens (also as `<org>/<user>` for organization
// members), or a robot account `robot$<namespace>+<name>` with its secret.
import { createHash } from 'node:crypto';
import type { IdentityStore, UserRow } from '../db/identity.js';
import { PasswordChecks, type CheckPriority } from './password-checks.js';
import { InMemorySignInThrottle, type SignInThrottle } from './rate-limit.js';
import { IDENTITY_TOKEN_SCOPES, parseRobotLogin, parseTokenScopes, type Principal } from './principal.js';
import { secretMatches, unknownUserHash } from './secrets.js';
import type { TokenSubject } from './tokens.js';

/**
 * A short fingerprint of the credential signed in with (the password hash,
 * or an auth token's) and of the user's credential epoch: it changes with
 * the password and when the user is disabled, so bearer and refresh tokens
 * that carry an older one stop working.
 */
function credentialStamp(user: UserRow, credentialHash = user.password_hash): string {
  // Epoch 0 keeps the stamps of tokens issued before epochs existed.
  const input = user.credential_epoch === 0 ? (credentialHash ?? '') : `${credentialHash ?? ''}\0${user.credential_epoch}`;
  return createHash('sha256').update(input).digest('base64url').slice(0, 16);
}

export class AuthenticationError extends Error {
  constructor(
    readonly reason: 'invalid' | 'throttled',
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** argon2 is deliberately slow; a verified password is remembered briefly. */
const PASSWORD_CACHE_MS = 60_000;
/** last_used_at is written at most this often per token. */
const TOKEN_TOUCH_MS = 60_000;

export class Authenticator {
  private readonly verifiedPasswords = new Map<string, { userId: number; until: number }>();

  constructor(
    private readonly identity: IdentityStore,
    readonly throttle: SignInThrottle = new InMemorySignInThrottle(),
    readonly passwordChecks = new PasswordChecks(),
  ) {
    void unknownUserHash(); // made now, so the first unknown name is not slower than the rest
  }

  /** `remote` is the client's address (behind a trusted proxy, the one it forwarded). */
  async basic(login: string, secret: string, remote: string): Promise<Principal> {
    // The attempt is reserved before the slow check, so parallel guesses
    // cannot all pass; one held back only by checks in progress waits for them.
    let attempt = await this.throttle.reserve(login.toLowerCase(), remote);
    while (!attempt.granted && attempt.settled) {
      await attempt.settled;
      attempt = await this.throttle.reserve(login.toLowerCase(), remote);
    }
    if (!attempt.granted) {
      const wait = attempt.retryAfterSeconds;
      throw new AuthenticationError('throttled', `too many failed sign-ins for ${login.slice(0, 100)} from ${remote}; try again in ${wait} s`, wait);
    }
    let principal: Principal | undefined;
    try {
      principal = await this.verify(login, secret, attempt.cleanRecord ? 'clean' : 'suspect');
    } finally {
      if (principal) attempt.release();
      else await attempt.fail();
    }
    if (!principal) throw new AuthenticationError('invalid', 'invalid username or password');
    return principal;
  }

  /**
   * Resolves the principal a bearer or refresh token was issued to, if it
   * still exists, is enabled, and the credential it signed in with is still
   * good (auth token not revoked or expired, password not changed). One
   * signed in with a refresh token that a password sign-in got (docker
   * login's identity token) holds token rights, not the password's.
   */
  async resolve(subject: TokenSubject): Promise<Principal | undefined> {
    const now = Date.now();
    if (subject.kind === 'anonymous' || subject.id === undefined) return undefined;
    if (subject.refreshExpiresAt !== undefined && subject.refreshExpiresAt <= now) return undefined;
    if (subject.kind === 'robot') {
      const robot = await this.identity.robotById(subject.id);
      if (!robot || robot.disabled || (robot.expires_at !== null && robot.expires_at <= now)) return undefined;
      return { kind: 'robot', id: robot.id, namespace: robot.namespace, name: robot.name };
    }
    const user = await this.identity.userById(subject.id);
    if (!user || user.disabled) return undefined;
    const token = subject.tokenId === undefined ? undefined : await this.identity.authTokenById(subject.tokenId);
    if (subject.tokenId !== undefined) {
      if (!token || token.user_id !== user.id || token.revoked_at !== null || (token.expires_at !== null && token.expires_at <= now)) return undefined;
    }
    const stamp = credentialStamp(user, token ? token.secret_hash : user.password_hash);
    // Without a stamp (issued before stamps): good only while the user was never disabled.
    if (subject.credentialStamp === undefined ? user.credential_epoch !== 0 : subject.credentialStamp !== stamp) return undefined;
    if (token) return { kind: 'user', id: user.id, username: user.username, via: 'token', tokenId: token.id, scopes: parseTokenScopes(token.scopes), credentialStamp: stamp };
    if (subject.refreshExpiresAt !== undefined) {
      return { kind: 'user', id: user.id, username: user.username, via: 'identity-token', scopes: [...IDENTITY_TOKEN_SCOPES], expiresAt: subject.refreshExpiresAt, credentialStamp: stamp };
    }
    return { kind: 'user', id: user.id, username: user.username, via: 'password', credentialStamp: stamp };
  }

  private async verify(login: string, secret: string, priority: CheckPriority): Promise<Principal | undefined> {
    if (secret === '') return undefined;
    const robotName = parseRobotLogin(login);
    if (robotName) {
      const robot = await this.identity.robotByName(robotName.namespace, robotName.name);
      if (!robot || robot.disabled || (robot.expires_at !== null && robot.expires_at <= Date.now())) return undefined;
      if (!secretMatches(secret, robot.secret_hash)) return undefined;
      return { kind: 'robot', id: robot.id, namespace: robot.namespace, name: robot.name };
    }
    const user = await this.findUser(login);
    if (!user || user.disabled) return this.checkNothing(secret, priority);
    const now = Date.now();
    for (const token of await this.identity.authTokensOf(user.id)) {
      if (token.revoked_at !== null || (token.expires_at !== null && token.expires_at <= now)) continue;
      if (secretMatches(secret, token.secret_hash)) {
        if (token.last_used_at === null || token.last_used_at < now - TOKEN_TOUCH_MS) await this.identity.touchAuthToken(token.id, now);
        return { kind: 'user', id: user.id, username: user.username, via: 'token', tokenId: token.id, scopes: parseTokenScopes(token.scopes), credentialStamp: credentialStamp(user, token.secret_hash) };
      }
    }
    if (!user.password_hash) return this.checkNothing(secret, priority);
    // The stored hash is part of the key: a password changed by another
    // process (a worker, another node) makes this entry unreachable at once.
    const cacheKey = createHash('sha256').update(`${user.id}\0${user.password_hash}\0${secret}`).digest('base64');
    const cached = this.verifiedPasswords.get(cacheKey);
    if (cached && cached.until > now && cached.userId === user.id) return { kind: 'user', id: user.id, username: user.username, via: 'password', credentialStamp: credentialStamp(user) };
    if (!(await this.passwordChecks.verify(user.password_hash, secret, priority))) return undefined;
    if (this.verifiedPasswords.size > 10_000) this.verifiedPasswords.clear();
    this.verifiedPasswords.set(cacheKey, { userId: user.id, until: now + PASSWORD_CACHE_MS });
    return { kind: 'user', id: user.id, username: user.username, via: 'password', credentialStamp: credentialStamp(user) };
  }

  /** For a name that is unknown, disabled or has no password: one check all the same, so the time does not tell. */
  private async checkNothing(secret: string, priority: CheckPriority): Promise<undefined> {
    await this.passwordChecks.verify(await unknownUserHash(), secret, priority);
    return undefined;
  }

  /** `jdoe` or, for members of organization `acme`, `acme/jdoe`. */
  private async findUser(login: string): Promise<UserRow | undefined> {
    const slash = login.lastIndexOf('/');
    if (slash < 0) return this.identity.userByName(login);
    const user = await this.identity.userByName(login.slice(slash + 1));
    if (!user || !(await this.identity.isOrganizationMember(login.slice(0, slash), user.id))) return undefined;
    return user;
  }

  /** Forget cached password checks (after a password change or user deletion). */
  forgetPasswords(): void {
    this.verifiedPasswords.clear();
  }
}
