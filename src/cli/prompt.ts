// Reading secrets: from stdin (`--password-stdin`) or typed on a terminal
// without echo. Prompts go to stderr so stdout stays clean for scripts.
import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { CliError } from './errors.js';

/** All of stdin, without the one trailing newline (as docker login --password-stdin reads it). */
export async function readStdinSecret(what = 'password'): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(`${capitalize(what)} (end with Ctrl-D): `);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const value = Buffer.concat(chunks).toString('utf8').replace(/\n$/, '').replace(/\r$/, '');
  if (value === '') throw new CliError(`no ${what} on stdin`, `pipe it in, e.g.: printf '%s' "$SECRET" | hatoba ... --password-stdin`);
  return value;
}

export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Asks for a line with echo (e.g. a user name). */
export async function promptLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
  }
}

/** Asks for a secret on the terminal without echoing it. */
export function promptSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    process.stderr.write(question);
    let value = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error) => {
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CliError('interrupted', undefined, 130));
        if (ch === '\u0004') return value === '' ? done(new CliError('no password given')) : done();
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** A new password, typed twice. */
export async function promptNewPassword(what = 'password'): Promise<string> {
  const first = await promptSecret(`New ${what}: `);
  const second = await promptSecret(`Repeat the ${what}: `);
  if (first !== second) throw new CliError('the two passwords differ; nothing was changed');
  return first;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A new password from -p, --password-stdin or the terminal; undefined when none is to be set. */
export async function newPassword(opts: { password?: string; passwordStdin?: boolean }, required: boolean): Promise<string | undefined> {
  if (opts.password !== undefined && opts.passwordStdin) throw new CliError('--password and --password-stdin are mutually exclusive');
  if (opts.passwordStdin) return readStdinSecret('password');
  if (opts.password !== undefined) return opts.password;
  if (canPrompt()) return promptNewPassword();
  if (required) throw new CliError('no new password given and no terminal to ask on', 'use --password-stdin (or -p PASSWORD)');
  return undefined;
}

export function passwordOptions(cmd: Command): Command {
  return cmd.option('-p, --password <password>', 'the password (visible to other local users; prefer --password-stdin)').option('--password-stdin', 'read the password from stdin');
}
