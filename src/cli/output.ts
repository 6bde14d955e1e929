// Printing results: `-o table` (aligned columns with upper-case headers, as
// kubectl prints them), `-o json`, `-o yaml`, and for listings `-o name`
// (`kind/name` per line, as kubectl prints it, for scripts).
import { stringify } from 'yaml';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
/** The formats of commands that list or show named things. */
export const NAMED_OUTPUT_FORMATS = [...OUTPUT_FORMATS, 'name'] as const;
export type NamedOutputFormat = (typeof NAMED_OUTPUT_FORMATS)[number];

/** How `-o name` names a row: `kind/name`. */
export type NameOf<T> = (row: T) => string;

export interface Column<T> {
  header: string;
  value: (row: T) => string;
}

/** Writes a whole document as JSON or YAML. */
export function printDocument(value: unknown, format: Exclude<OutputFormat, 'table'>, out: NodeJS.WritableStream = process.stdout): void {
  out.write(format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value));
}

/**
 * Lists rows: a table, or the array as JSON/YAML. An empty table prints
 * kubectl's "No resources found" on stderr and nothing on stdout.
 */
export function printList<T>(rows: T[], columns: Column<T>[], format: NamedOutputFormat, what = 'resources', nameOf?: NameOf<T>): void {
  if (format === 'name') return printNames(rows, nameOf);
  if (format !== 'table') return printDocument(rows, format);
  if (rows.length === 0) {
    process.stderr.write(`No ${what} found.\n`);
    return;
  }
  process.stdout.write(table(rows, columns));
}

/** Shows one object: a one-row table, or the object as JSON/YAML. */
export function printOne<T>(row: T, columns: Column<T>[], format: NamedOutputFormat, nameOf?: NameOf<T>): void {
  if (format === 'name') return printNames([row], nameOf);
  if (format !== 'table') return printDocument(row, format);
  process.stdout.write(table([row], columns));
}

/** `-o name`: one `kind/name` per line, nothing else (an empty list prints nothing, as kubectl does). */
function printNames<T>(rows: T[], nameOf: NameOf<T> | undefined): void {
  if (!nameOf) throw new Error('-o name needs a way to name the rows'); // a bug: every caller offering -o name passes one
  for (const row of rows) process.stdout.write(`${nameOf(row)}\n`);
}

export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => clean(c.value(r))));
  const headers = columns.map((c) => c.header.toUpperCase());
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}

/** Table cells are one line. */
function clean(value: string): string {
  return value.replace(/[\r\n\t]+/g, ' ');
}

/** kubectl's AGE column: 45s, 3m12s, 17m, 5h3m, 20h, 3d4h, 120d, 3y. */
export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '<none>';
  const ms = now - Date.parse(iso);
  if (Number.isNaN(ms)) return '<unknown>';
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (h < 3) return `${m}m`;
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

/** An optional value in a table cell. */
export function orNone(value: string | null | undefined): string {
  return value === null || value === undefined || value === '' ? '<none>' : value;
}

/** A time for a table cell, to the second. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '<none>';
  return iso.replace(/\.\d{3}Z$/, 'Z');
}
