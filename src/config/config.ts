// Server configuration, from (lowest to highest precedence) built-in
// defaults, a YAML file, HATOBA_* environment variables and command-line
// flags. Validated once here; the rest of the code gets typed values.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const LISTEN = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export const configSchema = z
  .object({
    listen: z.string().regex(LISTEN, 'listen must be HOST:PORT, e.g. 127.0.0.1:5000').default('127.0.0.1:5000'),
    data_dir: z.string().min(1).default('./data'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    manifest_max_bytes: z.coerce.number().int().positive().max(64 * 1024 * 1024).default(4 * 1024 * 1024),
    /** Upload sessions idle this long are discarded. */
    upload_idle_timeout_seconds: z.coerce.number().int().positive().default(24 * 3600),
    /** Server processes sharing the port (node:cluster). */
    workers: z.coerce.number().int().min(1).max(64).default(1),
    /** The `service` of the token protocol (also the JWT issuer and audience). */
    token_service: z.string().min(1).max(255).default('hatoba'),
    /** The URL clients reach this registry at (behind a proxy); else taken from each request's Host. */
    public_url: z.string().url().optional(),
    /** A client that has not finished sending its request headers by then is disconnected. */
    header_timeout_seconds: z.coerce.number().int().positive().max(3600).default(30),
    /** A request body that brings no byte for this long ends the request (idle, not total). */
    body_idle_timeout_seconds: z.coerce.number().int().positive().max(86400).default(60),
    /** Open connections; one more is answered 429 and closed. */
    max_connections: z.coerce.number().int().positive().default(1000),
    /** Open upload sessions of one user or robot; one more is 429. */
    max_upload_sessions_per_principal: z.coerce.number().int().positive().default(1000),
    /** Audit rows older than this are deleted (at start and hourly). */
    audit_retention_days: z.coerce.number().int().positive().default(90),
  })
  .strict();

export type ConfigFile = z.input<typeof configSchema>;

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  logLevel: string;
  manifestMaxBytes: number;
  uploadIdleTimeoutMs: number;
  tokenService: string;
  publicUrl?: string;
  workers: number;
  headerTimeoutMs: number;
  bodyIdleTimeoutMs: number;
  maxConnections: number;
  maxUploadSessionsPerPrincipal: number;
  auditRetentionDays: number;
  /** Secrets come from the environment only, never from the config file. */
  adminPassword?: string;
  masterKey?: string;
}

const ENV_KEYS: Record<string, keyof ConfigFile> = {
  HATOBA_LISTEN: 'listen',
  HATOBA_DATA_DIR: 'data_dir',
  HATOBA_LOG_LEVEL: 'log_level',
  HATOBA_MANIFEST_MAX_BYTES: 'manifest_max_bytes',
  HATOBA_UPLOAD_IDLE_TIMEOUT_SECONDS: 'upload_idle_timeout_seconds',
  HATOBA_TOKEN_SERVICE: 'token_service',
  HATOBA_WORKERS: 'workers',
  HATOBA_PUBLIC_URL: 'public_url',
  HATOBA_HEADER_TIMEOUT_SECONDS: 'header_timeout_seconds',
  HATOBA_BODY_IDLE_TIMEOUT_SECONDS: 'body_idle_timeout_seconds',
  HATOBA_MAX_CONNECTIONS: 'max_connections',
  HATOBA_MAX_UPLOAD_SESSIONS_PER_PRINCIPAL: 'max_upload_sessions_per_principal',
  HATOBA_AUDIT_RETENTION_DAYS: 'audit_retention_days',
};

export class ConfigError extends Error {}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Partial<ConfigFile>;
}

export function loadConfig(sources: ConfigSources = {}): ServerConfig {
  const env = sources.env ?? process.env;
  const filePath = sources.file ?? env.HATOBA_CONFIG;
  const merged: Record<string, unknown> = {};
  if (filePath) Object.assign(merged, readConfigFile(filePath));
  for (const [variable, key] of Object.entries(ENV_KEYS)) {
    if (env[variable] !== undefined && env[variable] !== '') merged[key] = env[variable];
  }
  for (const [key, value] of Object.entries(sources.flags ?? {})) if (value !== undefined) merged[key] = value;

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`).join('\n');
    throw new ConfigError(`invalid configuration${filePath ? ` (file ${filePath})` : ''}:\n${problems}`);
  }
  const c = result.data;
  const m = LISTEN.exec(c.listen)!;
  const port = Number(m[2]);
  if (port > 65535) throw new ConfigError(`invalid configuration: listen port ${port} is above 65535`);
  return {
    host: m[1]!.replace(/^\[|\]$/g, ''),
    port,
    dataDir: resolve(c.data_dir),
    logLevel: c.log_level,
    manifestMaxBytes: c.manifest_max_bytes,
    uploadIdleTimeoutMs: c.upload_idle_timeout_seconds * 1000,
    tokenService: c.token_service,
    workers: c.workers,
    publicUrl: c.public_url,
    headerTimeoutMs: c.header_timeout_seconds * 1000,
    bodyIdleTimeoutMs: c.body_idle_timeout_seconds * 1000,
    maxConnections: c.max_connections,
    maxUploadSessionsPerPrincipal: c.max_upload_sessions_per_principal,
    auditRetentionDays: c.audit_retention_days,
    adminPassword: env.HATOBA_ADMIN_PASSWORD || undefined,
    masterKey: env.HATOBA_MASTER_KEY || undefined,
  };
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${path} must be a YAML mapping`);
  return doc as Record<string, unknown>;
}
