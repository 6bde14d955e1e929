// Slows down guessing of passwords, personal auth tokens and robot secrets,
// without letting anyone lock an account out.
//
// Failures count against two budgets: one per (name, client address), and
// one per client address over all names (password spraying). Each budget
// lets a few failures through freely; after that every further attempt
// must wait a delay that doubles with each failure, up to a cap, and
// failures are forgotten after a while. There is no budget per name alone:
// failures from other addresses never refuse the right secret from an
// address that has not failed. (IPv6 clients are counted per /64, the
// smallest network a client usually gets.)
//
// An attempt is reserved, counted as a failure, before its (slow) check and
// released when it succeeds, so parallel guesses cannot all pass the budget
// before the first is charged. An attempt refused only because others are
// still being checked is told to wait for them (`settled`) rather than
// refused: fifty parallel sign-ins with the right password, from an address
// that has not failed, are all let in.
//
// Attempts in progress are held in process memory; settled failures are
// also written to a FailureLog in the database (SharedSignInThrottle), so
// that all --workers processes and all nodes count against one budget.

export interface SignInThrottle {
  /** Reserves an attempt by `name` from `address`, or says how long to wait. */
  reserve(name: string, address: string, now?: number): Reservation | Promise<Reservation>;
}

/** Failures recorded where every process sees them (the database). */
export interface FailureLog {
  /** Failure times (ms) other processes recorded for each of `keys` after `since`. */
  othersSince(keys: string[], since: number): Promise<Map<string, number[]>>;
  record(keys: string[], at: number): Promise<void>;
  /** Forgets a key's failures, in every process's records. */
  forget(key: string): Promise<void>;
}

export type Reservation =
  | {
      granted: true;
      /** The address had no recent failures: its checks may go first. */
      cleanRecord: boolean;
      /** The attempt succeeded: refund it and forget the pair's failures. */
      release(): void;
      /** The attempt failed: it stays counted, and no longer holds back attempts waiting for it. Resolves once it is recorded. */
      fail(): void | Promise<void>;
    }
  | {
      granted: false;
      retryAfterSeconds: number;
      /** Set when only attempts still being checked stand in the way: try again once one of them has settled. */
      settled?: Promise<void>;
    };

/** A failure, or an attempt in progress (counted as one until it settles). */
interface Attempt {
  at: number;
  pending: boolean;
}

export interface Budget {
  /** Failures allowed without any wait. */
  freeFailures: number;
  /** The wait after the first failure beyond the free ones; it doubles with each further one. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** A failure stops counting this long after it happened. */
  memoryMs: number;
}

export const PAIR_BUDGET: Budget = { freeFailures: 5, firstDelayMs: 1_000, maxDelayMs: 60_000, memoryMs: 15 * 60_000 };
/** Larger than a pair's: many people may share one address (NAT). */
export const ADDRESS_BUDGET: Budget = { freeFailures: 30, firstDelayMs: 1_000, maxDelayMs: 60_000, memoryMs: 15 * 60_000 };

/** Keys kept before old ones are dropped: memory stays bounded under a flood of addresses. */
const MAX_KEYS = 100_000;

export class InMemorySignInThrottle implements SignInThrottle {
  /** Failures and attempts in progress, oldest first, per key. */
  private readonly failures = new Map<string, Attempt[]>();
  /** Attempts waiting for one in progress on a key to settle. */
  private readonly waiters = new Map<string, (() => void)[]>();

  constructor(
    readonly pair: Budget = PAIR_BUDGET,
    readonly address: Budget = ADDRESS_BUDGET,
  ) {}

  /** `others`: failures other processes recorded, per key (see SharedSignInThrottle). */
  reserve(name: string, address: string, now = Date.now(), others?: Map<string, number[]>): Reservation {
    const { pairKey, addressKey } = throttleKeys(name, address);
    const pairAttempts = this.recent(pairKey, this.pair, now);
    const addressAttempts = this.recent(addressKey, this.address, now);
    const withOthers = (key: string, own: Attempt[]) => {
      const theirs = others?.get(key);
      if (!theirs?.length) return own;
      return [...theirs.map((at) => ({ at, pending: false })), ...own].sort((x, y) => x.at - y.at);
    };
    const pairAll = withOthers(pairKey, pairAttempts);
    const addressAll = withOthers(addressKey, addressAttempts);
    const wait = (settledOnly: boolean) => {
      const times = (attempts: Attempt[]) => attempts.filter((a) => !settledOnly || !a.pending).map((a) => a.at);
      return Math.max(waitMs(times(pairAll), this.pair, now), waitMs(times(addressAll), this.address, now));
    };
    const waitAll = wait(false);
    if (waitAll > 0) {
      const retryAfterSeconds = Math.ceil(waitAll / 1000);
      return wait(true) > 0 ? { granted: false, retryAfterSeconds } : { granted: false, retryAfterSeconds, settled: this.whenSettled([pairKey, addressKey]) };
    }
    const cleanRecord = addressAll.length === 0;
    const pairAttempt: Attempt = { at: now, pending: true };
    const addressAttempt: Attempt = { at: now, pending: true };
    this.failures.set(pairKey, [...pairAttempts, pairAttempt]);
    this.failures.set(addressKey, [...addressAttempts, addressAttempt]);
    this.bound(now);
    let settled = false;
    const settle = (success: boolean) => {
      if (settled) return;
      settled = true;
      pairAttempt.pending = false;
      addressAttempt.pending = false;
      if (success) {
        this.failures.delete(pairKey);
        const attempts = this.failures.get(addressKey);
        const i = attempts?.indexOf(addressAttempt) ?? -1;
        if (i >= 0) attempts!.splice(i, 1);
      }
      this.wake(pairKey);
      this.wake(addressKey);
    };
    return { granted: true, cleanRecord, release: () => settle(true), fail: () => settle(false) };
  }

  private recent(key: string, budget: Budget, now: number): Attempt[] {
    return (this.failures.get(key) ?? []).filter((a) => a.at > now - budget.memoryMs);
  }

  /** Resolves when an attempt in progress on one of `keys` settles. */
  private whenSettled(keys: string[]): Promise<void> {
    return new Promise((resolve) => {
      for (const key of keys) {
        const list = this.waiters.get(key) ?? [];
        list.push(resolve);
        this.waiters.set(key, list);
      }
    });
  }

  private wake(key: string): void {
    const list = this.waiters.get(key);
    if (!list) return;
    this.waiters.delete(key);
    for (const resolve of list) resolve();
  }

  private bound(now: number): void {
    if (this.failures.size <= MAX_KEYS) return;
    const memory = Math.max(this.pair.memoryMs, this.address.memoryMs);
    for (const [key, attempts] of this.failures) if (!attempts.some((a) => a.pending || a.at > now - memory)) this.failures.delete(key);
    // Still too many: forget the keys first seen longest ago, with room to spare.
    for (const key of this.failures.keys()) {
      if (this.failures.size <= MAX_KEYS * 0.9) break;
      this.failures.delete(key);
    }
  }
}

/**
 * The in-memory throttle, with the failures of every other process added
 * from the database: an attacker behind a load balancer gets one budget,
 * not one per node. The log is read on every reservation (one indexed
 * query) and written on every failure.
 */
export class SharedSignInThrottle implements SignInThrottle {
  /** Pair keys this process wrote failures for: a success forgets them in the log (a write only then). */
  private readonly recorded = new Set<string>();

  constructor(
    private readonly log: FailureLog,
    private readonly local = new InMemorySignInThrottle(),
  ) {}

  async reserve(name: string, address: string, now = Date.now()): Promise<Reservation> {
    const { pairKey, addressKey } = throttleKeys(name, address);
    const memory = Math.max(this.local.pair.memoryMs, this.local.address.memoryMs);
    const others = await this.log.othersSince([pairKey, addressKey], now - memory);
    const reservation = this.local.reserve(name, address, now, others);
    if (!reservation.granted) return reservation;
    const ignoreFailure = () => {}; // the local count still holds; the next failure is written again
    return {
      granted: true,
      cleanRecord: reservation.cleanRecord,
      release: () => {
        reservation.release();
        if (others.get(pairKey)?.length || this.recorded.delete(pairKey)) this.log.forget(pairKey).catch(ignoreFailure);
      },
      // The refusal waits for the record, so that the client's next guess,
      // on whichever node, already counts this one.
      fail: () => {
        reservation.fail();
        if (this.recorded.size >= MAX_KEYS) this.recorded.clear(); // then a success may leave its pair's rows to expire
        this.recorded.add(pairKey);
        return this.log.record([pairKey, addressKey], now).catch(ignoreFailure);
      },
    };
  }
}

function throttleKeys(name: string, address: string): { pairKey: string; addressKey: string } {
  const network = clientNetwork(address);
  return { pairKey: `pair:${name}\0${network}`, addressKey: `addr:${network}` };
}

/** How long the next attempt must wait after these failures (0: it may go now). */
export function waitMs(times: number[], budget: Budget, now: number): number {
  const beyond = times.length - budget.freeFailures;
  if (beyond < 0 || times.length === 0) return 0;
  const delay = Math.min(budget.firstDelayMs * 2 ** beyond, budget.maxDelayMs);
  return Math.max(0, times[times.length - 1]! + delay - now);
}

/** The address itself for IPv4 (also IPv4-mapped IPv6); the /64 for IPv6. */
export function clientNetwork(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const bare = address.replace(/%.*$/, '').toLowerCase();
  const [head = '', tail] = bare.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
