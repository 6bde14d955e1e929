// The one duration syntax of Hatoba's flags and configuration: a whole
// number and a unit, `90s`, `15m`, `2h`, `7d`, or several in a row (`1h30m`),
// as kubectl and Go write them (plus days, which expiries need).

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** What a message about a bad duration shows as the accepted forms. */
export const DURATION_FORMS = '90s, 15m, 2h, 7d (a whole number and s, m, h or d; combined as 1h30m)';

const WHOLE = /^(?:\d+[smhd])+$/;
const PART = /(\d+)([smhd])/g;

export class DurationError extends Error {
  constructor(readonly input: string) {
    super(`"${input}" is not a duration: use ${DURATION_FORMS}`);
    this.name = 'DurationError';
  }
}

/** Milliseconds of `90s`, `15m`, `2h`, `7d`, `1h30m`; a DurationError for anything else (bare numbers included: the unit is never guessed). */
export function parseDuration(input: string): number {
  const text = input.trim();
  if (!WHOLE.test(text)) throw new DurationError(input);
  let ms = 0;
  for (const [, count, unit] of text.matchAll(PART)) ms += Number(count) * UNIT_MS[unit as keyof typeof UNIT_MS];
  if (!Number.isSafeInteger(ms)) throw new DurationError(input);
  return ms;
}

/** The shortest way to write `ms` in the syntax above (`90s` is `1m30s`); for messages and defaults. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let rest = Math.round(ms / 1000);
  let out = '';
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
