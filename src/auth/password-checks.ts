// Password checks (argon2 verifications), bounded, ordered and shared.
//
// argon2 is slow on purpose, which makes every check a lever on the CPU:
// hundreds of parallel bad guesses would otherwise fill libuv's thread pool
// (which file I/O needs too) and keep an innocent sign-in waiting behind
// all of them. So:
// - at most `concurrency` checks run at once; the rest wait in a queue;
// - checks for clients with a clean record (no recent failed sign-in) go
//   before those of clients that have failed: two queues, each FIFO;
// - identical concurrent checks (same hash, same password: a client that
//   opens many connections at once) share one verification.
// Kept in process memory: the queue is about this process's CPU.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { verifyPassword } from './secrets.js';

export type CheckPriority = 'clean' | 'suspect';

export interface PasswordChecksOptions {
  /** Checks running at once; by default one core and two pool threads are left for the rest. */
  concurrency?: number;
  /** The verification itself (tests put a controllable one here). */
  verify?: (hash: string, password: string) => Promise<boolean>;
}

interface Check {
  priority: CheckPriority;
  started: boolean;
  run(): void;
  result: Promise<boolean>;
}

export function defaultConcurrency(): number {
  const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(availableParallelism() - 1, threads - 2));
}

export class PasswordChecks {
  readonly concurrency: number;
  private readonly verifyHash: (hash: string, password: string) => Promise<boolean>;
  private running = 0;
  private readonly queues: Record<CheckPriority, Check[]> = { clean: [], suspect: [] };
  /** Checks queued or running, by a digest of (hash, password). */
  private readonly pending = new Map<string, Check>();

  constructor(options: PasswordChecksOptions = {}) {
    this.concurrency = options.concurrency ?? defaultConcurrency();
    this.verifyHash = options.verify ?? verifyPassword;
  }

  /** Whether `password` matches `hash`, once a slot is free. */
  verify(hash: string, password: string, priority: CheckPriority): Promise<boolean> {
    const key = createHash('sha256').update(hash).update('\0').update(password).digest('base64');
    const shared = this.pending.get(key);
    if (shared) {
      if (priority === 'clean' && shared.priority === 'suspect' && !shared.started) this.promote(shared);
      return shared.result;
    }
    let run!: () => void;
    const result = new Promise<boolean>((resolve, reject) => {
      run = () => void (async () => this.verifyHash(hash, password))().then(resolve, reject);
    });
    const check: Check = { priority, started: false, run, result };
    this.pending.set(key, check);
    const done = () => {
      this.pending.delete(key);
      this.running--;
      this.next();
    };
    result.then(done, done);
    this.queues[priority].push(check);
    this.next();
    return result;
  }

  /** Checks waiting for a slot. */
  get waiting(): number {
    return this.queues.clean.length + this.queues.suspect.length;
  }

  private promote(check: Check): void {
    this.queues.suspect.splice(this.queues.suspect.indexOf(check), 1);
    check.priority = 'clean';
    this.queues.clean.push(check);
  }

  private next(): void {
    while (this.running < this.concurrency) {
      const check = this.queues.clean.shift() ?? this.queues.suspect.shift();
      if (!check) return;
      this.running++;
      check.started = true;
      check.run();
    }
  }
}
