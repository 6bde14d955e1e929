// Slows down password guessing: after `maxFailures` failed sign-ins for one
// user name or one client address within `windowMs`, further attempts from
// that key are refused until the window has passed. Kept in process memory:
// behind N processes an attacker gets at most N times the budget.
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly maxFailures = 10,
    readonly windowMs = 60_000,
  ) {}

  /** Seconds to wait if any key is over its budget, else undefined. */
  retryAfter(keys: string[], now = Date.now()): number | undefined {
    let wait = 0;
    for (const key of keys) {
      const recent = this.recent(key, now);
      if (recent.length >= this.maxFailures) wait = Math.max(wait, recent[0]! + this.windowMs - now);
    }
    return wait > 0 ? Math.ceil(wait / 1000) : undefined;
  }

  fail(keys: string[], now = Date.now()): void {
    for (const key of keys) this.failures.set(key, [...this.recent(key, now), now]);
    if (this.failures.size > 100_000) this.prune(now);
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
  }

  private prune(now: number): void {
    for (const [key, times] of this.failures) if (!times.some((t) => t > now - this.windowMs)) this.failures.delete(key);
  }
}
