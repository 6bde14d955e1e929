// Serializing writers that check and then write rows that may not exist
// yet, where a row lock cannot help. SQLite runs one writing transaction at
// a time, so there it is nothing to do; on PostgreSQL (READ COMMITTED, many
// nodes) it is a transaction-scoped advisory lock on a (kind, name hash)
// pair, released at commit or rollback.
import { sql, type Transaction } from 'kysely';
import { engineOf } from './connect.js';
import type { Database } from './schema.js';

/** The first key of each kind of advisory lock (the second is hashtext of the name). */
export const LOCK_KIND = {
  uploadsOfOwner: 0x48410001,
  auditRow: 0x48410002,
  signInBudget: 0x48410003,
} as const;

export async function lockName(trx: Transaction<Database>, kind: (typeof LOCK_KIND)[keyof typeof LOCK_KIND], name: string): Promise<void> {
  if (engineOf(trx) !== 'postgres') return;
  await sql`select pg_advisory_xact_lock(${kind}, hashtext(${name}))`.execute(trx);
}
