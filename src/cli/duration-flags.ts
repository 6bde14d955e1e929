// Flags that take a duration, in the one syntax of formats/duration.ts
// (`90s`, `15m`, `2h`, `7d`), and the expiry flags built on it.
import { Option, type Command } from 'commander';
import { DURATION_FORMS, DurationError, parseDuration } from '../formats/duration.js';
import { CliError } from './errors.js';

const DAY_MS = 86_400_000;

/** A commander parser: the flag's value as milliseconds; a CliError naming the flag and the accepted forms. */
export function durationFlag(flag: string): (value: string) => number {
  return (value) => {
    try {
      return parseDuration(value);
    } catch (err) {
      if (err instanceof DurationError) throw new CliError(`${flag} ${value}: not a duration`, `write ${DURATION_FORMS}`);
      throw err;
    }
  };
}

export interface ExpiryOptions {
  /** --expires-in, in milliseconds. */
  expiresIn?: number;
  /** --expires-in-days (the older spelling, kept). */
  expiresInDays?: string;
}

/** Adds `--expires-in DURATION` and its older spelling `--expires-in-days N`. */
export function expiryOptions(cmd: Command, description: string): Command {
  return cmd
    .addOption(new Option('--expires-in <duration>', `${description}: a duration in whole days, e.g. 30d`).argParser(durationFlag('--expires-in')))
    .addOption(new Option('--expires-in-days <days>', 'the same in days (as --expires-in Nd)'));
}

/**
 * The expiry asked for, in the whole days the management API counts
 * (1 to 3650); undefined when neither flag is given.
 */
export function expiryDays(opts: ExpiryOptions): number | undefined {
  if (opts.expiresIn !== undefined && opts.expiresInDays !== undefined) throw new CliError('--expires-in and --expires-in-days say the same thing', 'give one of them');
  let days: number;
  let given: string;
  if (opts.expiresInDays !== undefined) {
    days = Number(opts.expiresInDays);
    given = `--expires-in-days ${opts.expiresInDays}`;
    if (!/^\d+$/.test(opts.expiresInDays.trim())) throw new CliError(`${given}: not a whole number of days`, 'give e.g. --expires-in-days 30, or --expires-in 30d');
  } else if (opts.expiresIn !== undefined) {
    if (opts.expiresIn % DAY_MS !== 0) throw new CliError(`--expires-in: auth tokens and robots expire after whole days`, 'give a number of days, e.g. --expires-in 1d or --expires-in 30d');
    days = opts.expiresIn / DAY_MS;
    given = `--expires-in ${days}d`;
  } else {
    return undefined;
  }
  if (days < 1 || days > 3650) throw new CliError(`${given}: give from 1 to 3650 days`);
  return days;
}
