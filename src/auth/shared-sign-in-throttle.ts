// The sign-in throttle of rate-limit.ts with its record in the database,
// so that every node behind a load balancer counts against the same
// budgets: N nodes do not give an attacker N times the guesses. Same
// budgets, same reservations before the slow check, same rule that the
// right secret from an address that has not failed is never refused.
//
// What differs from one process's memory: reservations are made under an
// advisory lock on the two budget keys (db/sign-in-attempts.ts); an
// attempt held back only by checks in progress is woken when one on this
// node settles, and otherwise looks again after a while (the check may be
// running on another node); and an attempt left pending
// by a node that died counts as a failure once it is older than any check
// takes, instead of holding others back until it is forgotten.
import { createHash, randomUUID } from 'node:crypto';
import type { RecordedAttempt, SignInAttempts } from '../db/sign-in-attempts.js';
import { ADDRESS_BUDGET, clientNetwork, PAIR_BUDGET, waitMs, type Budget, type Reservation, type SignInThrottle } from './rate-limit.js';

/** How soon an attempt held back by checks in progress on other nodes looks again. */
const SETTLE_POLL_MS = 250;
/** A check takes well under this; a pending attempt older than it is a failure. */
const PENDING_MAX_MS = 30_000;
/** About one reservation in this many also drops expired rows. */
const PRUNE_EVERY = 200;

export class SharedSignInThrottle implements SignInThrottle {
  /** Settles still being written (release and fail do not make the request wait for them). */
  private readonly writes = new Set<Promise<void>>();
  /** Attempts waiting for one in progress on a key to settle, woken when one on this node has. */
  private readonly waiters = new Map<string, (() => void)[]>();

  constructor(
    private readonly attempts: SignInAttempts,
    readonly pair: Budget = PAIR_BUDGET,
    readonly address: Budget = ADDRESS_BUDGET,
  ) {}

  async reserve(name: string, address: string, now = Date.now()): Promise<Reservation> {
    const network = clientNetwork(address);
    const pairKey = budgetKey('pair', `${network} ${name}`);
    const addressKey = budgetKey('addr', network);
    const keys = [pairKey, addressKey];
    const memory = Math.max(this.pair.memoryMs, this.address.memoryMs);
    const attempt = randomUUID();
    let refusal: Reservation | undefined;
    let cleanRecord = false;
    const granted = await this.attempts.reserve(keys, now - memory, attempt, now, ([pairRows = [], addressRows = []]) => {
      const pairAttempts = this.recent(pairRows, this.pair, now);
      const addressAttempts = this.recent(addressRows, this.address, now);
      const wait = (settledOnly: boolean) => {
        const times = (attempts: RecordedAttempt[]) => attempts.filter((a) => !settledOnly || !a.pending).map((a) => a.at);
        return Math.max(waitMs(times(pairAttempts), this.pair, now), waitMs(times(addressAttempts), this.address, now));
      };
      const waitAll = wait(false);
      if (waitAll > 0) {
        const retryAfterSeconds = Math.ceil(waitAll / 1000);
        refusal = wait(true) > 0 ? { granted: false, retryAfterSeconds } : { granted: false, retryAfterSeconds, settled: this.whenSettled(keys) };
        return false;
      }
      cleanRecord = addressAttempts.length === 0;
      return true;
    });
    if (!granted) return refusal!;
    if (Math.random() * PRUNE_EVERY < 1) void this.attempts.prune(now - memory).catch(() => {});
    let settled = false;
    // A settle that cannot be written leaves the attempt pending: it then counts as a failure (PENDING_MAX_MS).
    const settle = (success: boolean) => {
      if (settled) return;
      settled = true;
      const write = (success ? this.attempts.succeeded(keys, attempt, pairKey) : this.attempts.failed(keys, attempt)).catch(() => {});
      this.writes.add(write);
      void write.finally(() => {
        this.writes.delete(write);
        for (const key of keys) this.wake(key);
      });
    };
    return { granted: true, cleanRecord, release: () => settle(true), fail: () => settle(false) };
  }

  /** Resolves once every settle so far is in the database. */
  async flush(): Promise<void> {
    await Promise.all([...this.writes]);
  }

  /** Resolves when an attempt on one of `keys` settles on this node, or after SETTLE_POLL_MS. */
  private whenSettled(keys: string[]): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const key of keys) {
          const rest = (this.waiters.get(key) ?? []).filter((w) => w !== done);
          if (rest.length > 0) this.waiters.set(key, rest);
          else this.waiters.delete(key);
        }
        resolve();
      };
      const timer = setTimeout(done, SETTLE_POLL_MS);
      for (const key of keys) this.waiters.set(key, [...(this.waiters.get(key) ?? []), done]);
    });
  }

  private wake(key: string): void {
    for (const done of this.waiters.get(key) ?? []) done();
  }

  private recent(rows: RecordedAttempt[], budget: Budget, now: number): RecordedAttempt[] {
    return rows.filter((a) => a.at > now - budget.memoryMs).map((a) => (a.pending && a.at <= now - PENDING_MAX_MS ? { ...a, pending: false } : a));
  }
}

/** Fixed-length keys: names are whatever a client sent, and PostgreSQL text cannot hold NUL. */
function budgetKey(kind: 'pair' | 'addr', value: string): string {
  return `${kind}:${createHash('sha256').update(value).digest('base64url')}`;
}
