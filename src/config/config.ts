// Server configuration, from (lowest to highest precedence) built-in
// defaults, a YAML file, HATOBA_* environment variables and command-line
// flags. Validated once here; the rest of the code gets typed values.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const LISTEN = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** `10.0.0.0/8`, `2001:db8::/32`, or one address (`192.0.2.7`). */
function isCidr(value: string): boolean {
  const [address = '', prefix, extra] = value.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** A YAML boolean, or true/false, on/off, yes/no, 1/0 as text (environment variables). */
function flag() {
  const words: Record<string, boolean> = { true: true, on: true, yes: true, '1': true, false: false, off: false, no: false, '0': false };
  return z.preprocess((v) => (typeof v === 'string' ? (words[v.trim().toLowerCase()] ?? v) : v), z.boolean({ error: 'must be true or false' }));
}

/** A YAML list, or one comma-separated string (as environment variables give it); empty by default. */
function listOf<T extends z.ZodType>(item: T) {
  return z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v), z.array(item)).default([]);
}

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
    /** TLS: the server's certificate chain and private key (PEM files), both or neither. */
    tls_cert: z.string().min(1).optional(),
    tls_key: z.string().min(1).optional(),
    /** Mutual TLS: clients must present a certificate that chains to this CA bundle. */
    tls_client_ca: z.string().min(1).optional(),
    /**
     * With TLS, offer HTTP/2 as well as HTTP/1.1 (ALPN). Off by default:
     * measured, it moved blobs no faster and pulled them slower (docs/tls.md).
     * No effect on plain HTTP.
     */
    http2: flag().default(false),
    /**
     * Peers whose X-Forwarded-For (and -Proto, -Host) are believed: the
     * client address the audit log and the sign-in throttle use. A list, or
     * one comma-separated string (as in the environment).
     */
    trusted_proxies: listOf(z.string().refine(isCidr, 'must be an IP address or a CIDR, e.g. 10.0.0.0/8')),
    /**
     * Origins (besides the registry's own) whose web pages may call the
     * management API, e.g. a console served elsewhere. A list, or one
     * comma-separated string (HATOBA_API_ALLOWED_ORIGINS).
     */
    api_allowed_origins: listOf(z.string().url().refine(isOrigin, 'each of api_allowed_origins must be an origin: scheme://host[:port], no path')),
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
  .strict()
  .refine((c) => (c.tls_cert === undefined) === (c.tls_key === undefined), { message: 'tls_cert and tls_key go together: give both (or neither, for plain HTTP)', path: ['tls_cert'] })
  .refine((c) => c.tls_client_ca === undefined || c.tls_cert !== undefined, { message: 'tls_client_ca needs tls_cert and tls_key', path: ['tls_client_ca'] });

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
  /** Serve HTTPS with these files (paths resolved); plain HTTP when absent. */
  tls?: { cert: string; key: string; clientCa?: string };
  /** Offer HTTP/2 over TLS (never over plain HTTP). */
  http2: boolean;
  /** CIDRs of reverse proxies whose X-Forwarded-For names the client. */
  trustedProxies: string[];
  /** Origins whose pages may call /api/v1, as scheme://host[:port]. */
  apiAllowedOrigins: string[];
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
  HATOBA_TLS_CERT: 'tls_cert',
  HATOBA_TLS_KEY: 'tls_key',
  HATOBA_TLS_CLIENT_CA: 'tls_client_ca',
  HATOBA_HTTP2: 'http2',
  HATOBA_TRUSTED_PROXIES: 'trusted_proxies',
  HATOBA_API_ALLOWED_ORIGINS: 'api_allowed_origins',
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
    tls: c.tls_cert && c.tls_key ? { cert: resolve(c.tls_cert), key: resolve(c.tls_key), clientCa: c.tls_client_ca && resolve(c.tls_client_ca) } : undefined,
    http2: c.http2,
    trustedProxies: c.trusted_proxies,
    apiAllowedOrigins: c.api_allowed_origins.map((o) => new URL(o).origin),
    headerTimeoutMs: c.header_timeout_seconds * 1000,
    bodyIdleTimeoutMs: c.body_idle_timeout_seconds * 1000,
    maxConnections: c.max_connections,
    maxUploadSessionsPerPrincipal: c.max_upload_sessions_per_principal,
    auditRetentionDays: c.audit_retention_days,
    adminPassword: env.HATOBA_ADMIN_PASSWORD || undefined,
    masterKey: env.HATOBA_MASTER_KEY || undefined,
  };
}

function isOrigin(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return url.origin !== 'null' && (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash && !url.username;
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
