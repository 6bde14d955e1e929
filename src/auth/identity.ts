// Identity and access, assembled: accounts, sign-in, authorize(), bearer
// tokens and the audit log, over the identity tables.
import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../db/errors.js';
import { IdentityStore } from '../db/identity.js';
import { SignInFailureLog } from '../db/signin-failures.js';
import type { Database } from '../db/schema.js';
import { RegistryError } from '../formats/error-codes.js';
import { Accounts } from './accounts.js';
import { INITIAL_ADMIN } from './initial-admin-password.js';
import { AuditLog } from './audit.js';
import { Authenticator } from './authenticate.js';
import { Authorizer } from './authorize.js';
import { SharedSignInThrottle } from './rate-limit.js';
import { generatePassword } from './secrets.js';
import { TokenService } from './tokens.js';
import { SYSTEM_ADMIN_ROLE } from './verbs.js';

export interface IdentityOptions {
  masterKey: Buffer;
  service: string;
  /** Password for the first `admin` user; generated when absent. */
  adminPassword?: string;
  log?: FastifyBaseLogger;
  onPasswordChanged?: (username: string) => void;
}

export class Identity {
  private constructor(
    readonly store: IdentityStore,
    readonly accounts: Accounts,
    readonly authenticator: Authenticator,
    readonly authorizer: Authorizer,
    readonly tokens: TokenService,
    readonly audit: AuditLog,
  ) {}

  static async open(db: Kysely<Database>, options: IdentityOptions): Promise<{ identity: Identity; createdAdminPassword?: string }> {
    const store = new IdentityStore(db);
    const accounts = new Accounts(store, options.onPasswordChanged);
    await accounts.ensureBuiltinRoles();
    const createdAdminPassword = await bootstrapAdmin(accounts, store, options.adminPassword);
    const tokens = await TokenService.load(store, options.masterKey, options.service);
    const identity = new Identity(store, accounts, new Authenticator(store, new SharedSignInThrottle(new SignInFailureLog(db))), new Authorizer(store), tokens, new AuditLog(store, options.log));
    return { identity, createdAdminPassword: options.adminPassword ? undefined : createdAdminPassword };
  }
}

/** The first start creates `admin`, bound to the instance-wide admin role. */
async function bootstrapAdmin(accounts: Accounts, store: IdentityStore, password?: string): Promise<string | undefined> {
  if ((await store.countUsers()) > 0) return undefined;
  const chosen = password ?? generatePassword();
  try {
    await accounts.createUser({ username: INITIAL_ADMIN, password: chosen });
  } catch (err) {
    // Another process or node of this instance created it first (seen
    // before our insert, or refused by the database's unique key).
    if ((err instanceof RegistryError && err.code === 'CONFLICT') || isUniqueViolation(err)) return undefined;
    throw err;
  }
  await accounts.createRoleBinding({ name: 'admin', namespace: '', role: SYSTEM_ADMIN_ROLE, subject: { kind: 'user', name: INITIAL_ADMIN } });
  return chosen;
}
