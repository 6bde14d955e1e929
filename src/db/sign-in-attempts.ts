// The sign-in throttle's shared record (auth/shared-sign-in-throttle.ts):
// per budget key, the recent failures and the attempts being checked.
import type { Kysely } from 'kysely';
import { LOCK_KIND, lockName } from './row-locks.js';
import type { Database } from './schema.js';

export interface RecordedAttempt {
  at: number;
  pending: boolean;
}

export class SignInAttempts {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Under a lock on `keys` (taken in one order, so two reservations never
   * wait on each other): the attempts on each key since `since`, oldest
   * first, handed to `decide`; when it says yes, a pending attempt is
   * recorded on every key, before any other reservation can look.
   */
  async reserve(keys: string[], since: number, attempt: string, now: number, decide: (attempts: RecordedAttempt[][]) => boolean): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      for (const key of [...keys].sort()) await lockName(trx, LOCK_KIND.signInBudget, key);
      const rows = await trx.selectFrom('sign_in_attempts').select(['key', 'at', 'pending']).where('key', 'in', keys).where('at', '>', since).orderBy('at').execute();
      const attempts = keys.map((key) => rows.filter((r) => r.key === key).map((r) => ({ at: r.at, pending: r.pending === 1 })));
      if (!decide(attempts)) return false;
      await trx
        .insertInto('sign_in_attempts')
        .values(keys.map((key) => ({ key, attempt, at: now, pending: 1 })))
        .execute();
      return true;
    });
  }

  /** The attempt on `keys` failed: it stays, no longer pending. */
  async failed(keys: string[], attempt: string): Promise<void> {
    await this.db.updateTable('sign_in_attempts').set({ pending: 0 }).where('key', 'in', keys).where('attempt', '=', attempt).execute();
  }

  /** The attempt on `keys` succeeded: it is refunded, and every failure on `forget` goes too. */
  async succeeded(keys: string[], attempt: string, forget: string): Promise<void> {
    await this.db
      .deleteFrom('sign_in_attempts')
      .where((eb) => eb.or([eb.and([eb('key', 'in', keys), eb('attempt', '=', attempt)]), eb('key', '=', forget)]))
      .execute();
  }

  /** Drops what no budget remembers any more (older than `before`). */
  async prune(before: number): Promise<void> {
    await this.db.deleteFrom('sign_in_attempts').where('at', '<=', before).execute();
  }
}
