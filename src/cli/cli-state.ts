// What the CLI remembers between runs besides the credentials (which live
// in the Docker config file): the servers logged in to with `hatoba login`,
// the URL each was reached at (so http:// or https:// need not be repeated)
// and the current one (the last login), used when --server is not given.
// Kept in $HATOBA_CONFIG_DIR, $XDG_CONFIG_HOME/hatoba or ~/.config/hatoba.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { sameServer } from '../client/server-address.js';

export interface CliState {
  /** `auths` key of the server of the last login. */
  current?: string;
  servers?: Record<string, { url: string }>;
}

export function hatobaConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HATOBA_CONFIG_DIR) return env.HATOBA_CONFIG_DIR;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'hatoba');
}

function statePath(): string {
  return join(hatobaConfigDir(), 'cli.json');
}

export async function readState(): Promise<CliState> {
  try {
    const parsed = JSON.parse(await readFile(statePath(), 'utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as CliState) : {};
  } catch {
    // Missing or damaged: it only holds defaults, so start afresh.
    return {};
  }
}

export async function writeState(state: CliState): Promise<void> {
  const dir = hatobaConfigDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.cli.json.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, statePath());
}

export function rememberServer(state: CliState, key: string, url: string): void {
  state.servers ??= {};
  for (const k of Object.keys(state.servers)) if (sameServer(k, key)) delete state.servers[k];
  state.servers[key] = { url };
  state.current = key;
}

export function forgetServer(state: CliState, key: string): void {
  for (const k of Object.keys(state.servers ?? {})) if (sameServer(k, key)) delete state.servers![k];
  if (state.current && sameServer(state.current, key)) {
    // The previous login, if one is left, becomes the current server.
    state.current = Object.keys(state.servers ?? {}).at(-1);
  }
}

export function knownUrl(state: CliState, key: string): string | undefined {
  for (const [k, v] of Object.entries(state.servers ?? {})) if (sameServer(k, key)) return v.url;
  return undefined;
}
