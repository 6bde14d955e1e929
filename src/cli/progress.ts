// Progress of long transfers, on stderr: one bar per blob on a terminal
// (redrawn in place with ANSI cursor moves, at most 10 times a second),
// one plain line per finished blob when stderr is not a terminal (logs,
// CI), nothing with --quiet or --json. Results go to stdout elsewhere.
import type { BlobProgress, BlobTransferState } from '../client/blob-transfer.js';

export type ProgressMode = 'tty' | 'plain' | 'quiet';

interface Row {
  digest: string;
  state: BlobTransferState | 'stored';
  bytes: number;
  total: number;
}

const FINAL: ReadonlySet<string> = new Set(['done', 'exists', 'mounted', 'stored']);
const BAR_WIDTH = 30;
const REDRAW_MS = 100;

export function progressMode(opts: { quiet?: boolean; json?: boolean }, out: NodeJS.WriteStream = process.stderr): ProgressMode {
  if (opts.quiet || opts.json) return 'quiet';
  return out.isTTY && process.env.TERM !== 'dumb' ? 'tty' : 'plain';
}

export class ProgressReporter {
  private readonly rows = new Map<string, Row>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;

  constructor(
    readonly mode: ProgressMode,
    /** What a finished transfer is called in plain lines: pushed, pulled, copied. */
    private readonly verb: string,
    private readonly out: NodeJS.WritableStream = process.stderr,
  ) {}

  /** The listener to hand to pushBlob / openBlob / copyImage / pushImage. */
  readonly listener = (event: BlobProgress): void => {
    if (this.mode === 'quiet') return;
    const prev = this.rows.get(event.digest);
    // A blob copied to several places: once done, keep it done.
    if (prev && FINAL.has(prev.state) && !FINAL.has(event.state)) return;
    const row: Row = { digest: event.digest, state: event.state, bytes: event.bytes, total: event.total };
    this.rows.set(event.digest, row);
    if (this.mode === 'plain') {
      if (FINAL.has(event.state) && !(prev && FINAL.has(prev.state))) this.line(plainLine(row, this.verb));
      return;
    }
    this.schedule(FINAL.has(event.state));
  };

  /** A blob stored locally (image load, pull into the store). */
  stored(digest: string, size: number): void {
    this.listener({ digest, repository: '', state: 'stored' as BlobTransferState, bytes: size, total: size });
  }

  /** A line of its own (a manifest pushed, a warning), above the bars. */
  note(text: string): void {
    if (this.mode === 'quiet') return;
    if (this.mode === 'plain') return this.line(text);
    this.erase();
    this.out.write(`${text}\n`);
    this.drawn = 0;
    this.schedule(true);
  }

  /**
   * Draws the last state and leaves it on the screen; blobs reported after
   * this (the next image) get bars of their own below.
   */
  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.mode === 'tty' && this.rows.size > 0) this.draw();
    this.rows.clear();
    this.drawn = 0;
  }

  private line(text: string): void {
    this.out.write(`${text}\n`);
  }

  private schedule(now: boolean): void {
    this.dirty = true;
    if (now) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.draw();
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.dirty) this.draw();
    }, REDRAW_MS);
    this.timer.unref();
  }

  private erase(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\r\x1b[J`);
  }

  private draw(): void {
    this.dirty = false;
    const width = (this.out as NodeJS.WriteStream).columns || 100;
    const lines = [...this.rows.values()].map((r) => ttyLine(r, this.verb).slice(0, Math.max(20, width - 1)));
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A\r` : '';
    for (const l of lines) text += `\x1b[2K${l}\n`;
    this.out.write(text);
    this.drawn = lines.length;
  }
}

export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return i >= 0 ? `${digest.slice(0, i + 1)}${digest.slice(i + 1, i + 13)}` : digest.slice(0, 19);
}

export function humanBytes(n: number): string {
  if (n < 0) return '?';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[u]}`;
}

function stateWord(state: Row['state'], verb: string): string {
  switch (state) {
    case 'checking':
      return 'checking';
    case 'exists':
      return 'already there';
    case 'mounted':
      return 'mounted';
    case 'uploading':
      return 'uploading';
    case 'downloading':
      return 'downloading';
    case 'stored':
      return 'stored';
    case 'done':
      return verb;
    default:
      return String(state);
  }
}

function plainLine(r: Row, verb: string): string {
  return `${shortDigest(r.digest)}: ${stateWord(r.state, verb)} (${humanBytes(r.total >= 0 ? r.total : r.bytes)})`;
}

function ttyLine(r: Row, verb: string): string {
  const id = shortDigest(r.digest);
  if (FINAL.has(r.state)) return `${id}  ${stateWord(r.state, verb)} ${humanBytes(r.total >= 0 ? r.total : r.bytes)}`;
  if (r.total <= 0) return `${id}  ${stateWord(r.state, verb)} ${humanBytes(r.bytes)}`;
  const frac = Math.min(1, r.bytes / r.total);
  const full = Math.round(frac * BAR_WIDTH);
  const bar = `${'='.repeat(Math.max(0, full - 1))}${full > 0 ? '>' : ''}${' '.repeat(BAR_WIDTH - full)}`;
  return `${id}  ${stateWord(r.state, verb).padEnd(11)} [${bar}] ${humanBytes(r.bytes)}/${humanBytes(r.total)}`;
}
