// The sign-in throttle's failures, shared by every process and node on one
// database (see SharedSignInThrottle in src/auth/rate-limit.ts). Keys are
// stored hashed: a pair key holds what was typed as a user name, which is
// sometimes a password.
import { createHash, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { FailureLog } from '../auth/rate-limit.js';
import type { Database } from './schema.js';

/** Rows older than this are deleted: longer than any budget remembers a failure. */
const KEEP_MS = 60 * 60_000;
const PRUNE_EVERY_MS = 60_000;

export class SignInFailureLog implements FailureLog {
  /** This process, so that its own failures (counted in memory) are not counted twice. */
  private readonly node = randomUUID();
  private prunedAt = 0;

  constructor(private readonly db: Kysely<Database>) {}

  async othersSince(keys: string[], since: number): Promise<Map<string, number[]>> {
    const hashed = new Map(keys.map((key) => [hashKey(key), key]));
    const rows = await this.db
      .selectFrom('signin_failures')
      .select(['key', 'at'])
      .where('key', 'in', [...hashed.keys()])
      .where('at', '>', since)
      .where('node', '<>', this.node)
      .orderBy('at')
      .execute();
    const byKey = new Map<string, number[]>();
    for (const row of rows) {
      const key = hashed.get(row.key)!;
      byKey.set(key, [...(byKey.get(key) ?? []), Number(row.at)]);
    }
    return byKey;
  }

  async record(keys: string[], at: number): Promise<void> {
    await this.db
      .insertInto('signin_failures')
      .values(keys.map((key) => ({ key: hashKey(key), at, node: this.node })))
      .execute();
    if (at - this.prunedAt > PRUNE_EVERY_MS) {
      this.prunedAt = at;
      await this.db.deleteFrom('signin_failures').where('at', '<', at - KEEP_MS).execute();
    }
  }

  async forget(key: string): Promise<void> {
    await this.db.deleteFrom('signin_failures').where('key', '=', hashKey(key)).execute();
  }
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}
