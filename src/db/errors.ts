// Database errors that callers act on, recognised the same way on both
// engines.

/**
 * A unique or primary key constraint refused a row: someone else inserted
 * the same key first (SQLite: SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY;
 * PostgreSQL: SQLSTATE 23505).
 */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
