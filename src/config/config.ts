// Server configuration, from (lowest to highest precedence) built-in
// defaults, a YAML file, HATOBA_* environment variables and command-line
// flags. Validated once here; the rest of the code gets typed values.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DURATION_FORMS, formatDuration, parseDuration } from '../formats/duration.js';
import { DatabaseUrlError, parseDatabaseUrl, type DatabaseLocation } from '../db/location.js';
import { parseS3StorageUrl } from '../storage/s3/s3-location.js';

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

/** A duration in the one syntax (`90s`, `15m`, `2h`, `7d`), as milliseconds, from `min` up to `max`. */
function duration(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.unknown().transform((value, ctx) => {
    let ms: number;
    try {
      if (typeof value !== 'string') throw new Error();
      ms = parseDuration(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not a duration; write ${DURATION_FORMS}` });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `must be from ${formatDuration(min)}${max < Number.MAX_SAFE_INTEGER ? ` to ${formatDuration(max)}` : ' up'}` });
      return z.NEVER;
    }
    return ms;
  });
}

/**
 * The duration keys and the older keys in whole seconds or days that they
 * stand beside (both kept working): one source gives one of the two, and a
 * later source (env over file, flag over env) overrides either.
 */
const DURATION_ALIASES = {
  upload_idle_timeout: 'upload_idle_timeout_seconds',
  header_timeout: 'header_timeout_seconds',
  body_idle_timeout: 'body_idle_timeout_seconds',
  audit_retention: 'audit_retention_days',
  shutdown_grace: 'shutdown_grace_seconds',
} as const;

export const configSchema = z
  .object({
    listen: z.string().regex(LISTEN, 'listen must be HOST:PORT, e.g. 127.0.0.1:5000').default('127.0.0.1:5000'),
    data_dir: z.string().min(1).default('./data'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    manifest_max_bytes: z.coerce.number().int().positive().max(64 * 1024 * 1024).default(4 * 1024 * 1024),
    /** Upload sessions idle this long are discarded. */
    upload_idle_timeout_seconds: z.coerce.number().int().positive().default(24 * 3600),
    upload_idle_timeout: duration(1000).optional(),
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
    header_timeout: duration(1000, 3600_000).optional(),
    /** A request body that brings no byte for this long ends the request (idle, not total). */
    body_idle_timeout_seconds: z.coerce.number().int().positive().max(86400).default(60),
    body_idle_timeout: duration(1000, 86_400_000).optional(),
    /** Open connections; one more is answered 429 and closed. */
    max_connections: z.coerce.number().int().positive().default(1000),
    /** Open upload sessions of one user or robot; one more is 429. */
    max_upload_sessions_per_principal: z.coerce.number().int().positive().default(1000),
    /** Audit rows older than this are deleted (at start and hourly). */
    audit_retention_days: z.coerce.number().int().positive().default(90),
    /** As audit_retention_days, in the duration syntax (at least an hour: rows are pruned hourly). */
    audit_retention: duration(3600_000).optional(),
    /** On SIGTERM/SIGINT, requests in flight get this long to finish before they are cut. */
    shutdown_grace_seconds: z.coerce.number().int().min(0).max(3600).default(30),
    /** As shutdown_grace_seconds, in the duration syntax. */
    shutdown_grace: duration(0, 3600_000).optional(),
    /** HOST:PORT of a separate plain-HTTP listener serving /metrics without authentication; none by default. */
    metrics_listen: z.string().regex(LISTEN, 'metrics_listen must be HOST:PORT, e.g. 127.0.0.1:9090').optional(),
    /** The metadata database: sqlite:PATH (default sqlite:DATA_DIR/hatoba.db) or postgres://USER:PASSWORD@HOST:PORT/DATABASE. */
    db: z.string().min(1).optional(),
    /** PostgreSQL connections each process keeps at most. */
    db_pool_size: z.coerce.number().int().positive().max(1000).default(10),
    /** Where blobs live: file:PATH (default file:DATA_DIR/blobs) or s3://BUCKET[/PREFIX]?endpoint=URL&region=R (see docs/s3.md). */
    storage: z
      .string()
      .regex(/^(file:.|s3:\/\/)/, 'storage must be file:PATH or s3://BUCKET[/PREFIX]?endpoint=URL&region=R')
      .superRefine((value, ctx) => {
        if (!value.startsWith('s3:')) return;
        try {
          parseS3StorageUrl(value);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      })
      .optional(),
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
  shutdownGraceMs: number;
  /** Where /metrics is served (no authentication: loopback or a private network). */
  metricsListen?: { host: string; port: number };
  /** Where the metadata is (a postgres URL may hold a password: show it with describeDatabase). */
  db: DatabaseLocation;
  /** The storage URL; undefined for the default file:DATA_DIR/blobs. */
  storage?: string;
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
  HATOBA_UPLOAD_IDLE_TIMEOUT: 'upload_idle_timeout',
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
  HATOBA_HEADER_TIMEOUT: 'header_timeout',
  HATOBA_BODY_IDLE_TIMEOUT: 'body_idle_timeout',
  HATOBA_MAX_CONNECTIONS: 'max_connections',
  HATOBA_MAX_UPLOAD_SESSIONS_PER_PRINCIPAL: 'max_upload_sessions_per_principal',
  HATOBA_AUDIT_RETENTION_DAYS: 'audit_retention_days',
  HATOBA_AUDIT_RETENTION: 'audit_retention',
  HATOBA_SHUTDOWN_GRACE_SECONDS: 'shutdown_grace_seconds',
  HATOBA_SHUTDOWN_GRACE: 'shutdown_grace',
  HATOBA_METRICS_LISTEN: 'metrics_listen',
  HATOBA_DB: 'db',
  HATOBA_DB_POOL_SIZE: 'db_pool_size',
  HATOBA_STORAGE: 'storage',
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
  // Where each value came from, so that an error names it.
  const origins: Record<string, string> = {};
  const layer = (entries: [key: string, value: unknown, origin: string][]) => {
    for (const [key, , origin] of entries) {
      const partner = durationPartner(key);
      const both = partner && entries.find(([k]) => k === partner);
      if (both) throw new ConfigError(`invalid configuration: ${origin} and ${both[2]} set the same thing; give one of ${key} and ${partner}`);
    }
    for (const [key, value, origin] of entries) {
      const partner = durationPartner(key);
      if (partner) delete merged[partner];
      merged[key] = value;
      origins[key] = origin;
    }
  };
  const fileOrigin = sources.file !== undefined ? 'the flag --config' : 'the environment variable HATOBA_CONFIG';
  if (filePath) layer(Object.entries(readConfigFile(filePath, fileOrigin)).map(([key, value]) => [key, value, `${key} in the config file ${filePath}`]));
  layer(
    Object.entries(ENV_KEYS)
      .filter(([variable]) => env[variable] !== undefined && env[variable] !== '')
      .map(([variable, key]) => [key, env[variable], `the environment variable ${variable}`]),
  );
  layer(
    Object.entries(sources.flags ?? {})
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => [key, value, `the flag --${key.replace(/_/g, '-')}`]),
  );

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.flatMap((i) => describeIssue(i, origins, filePath)).join('\n');
    throw new ConfigError(`invalid configuration${filePath ? ` (file ${filePath})` : ''}:\n${problems}`);
  }
  const c = result.data;
  const { host, port } = hostAndPort(c.listen, 'listen', origins.listen);
  const dataDir = resolve(c.data_dir);
  let db: DatabaseLocation;
  try {
    db = parseDatabaseUrl(c.db, dataDir, c.db_pool_size);
  } catch (err) {
    if (err instanceof DatabaseUrlError) throw new ConfigError(`invalid configuration: ${err.message}${origins.db ? ` (from ${origins.db})` : ''}`);
    throw err;
  }
  return {
    host,
    port,
    dataDir,
    logLevel: c.log_level,
    manifestMaxBytes: c.manifest_max_bytes,
    uploadIdleTimeoutMs: c.upload_idle_timeout ?? c.upload_idle_timeout_seconds * 1000,
    tokenService: c.token_service,
    workers: c.workers,
    publicUrl: c.public_url,
    tls: c.tls_cert && c.tls_key ? { cert: resolve(c.tls_cert), key: resolve(c.tls_key), clientCa: c.tls_client_ca && resolve(c.tls_client_ca) } : undefined,
    http2: c.http2,
    trustedProxies: c.trusted_proxies,
    apiAllowedOrigins: c.api_allowed_origins.map((o) => new URL(o).origin),
    headerTimeoutMs: c.header_timeout ?? c.header_timeout_seconds * 1000,
    bodyIdleTimeoutMs: c.body_idle_timeout ?? c.body_idle_timeout_seconds * 1000,
    maxConnections: c.max_connections,
    maxUploadSessionsPerPrincipal: c.max_upload_sessions_per_principal,
    auditRetentionDays: c.audit_retention !== undefined ? c.audit_retention / 86_400_000 : c.audit_retention_days,
    shutdownGraceMs: c.shutdown_grace ?? c.shutdown_grace_seconds * 1000,
    metricsListen: c.metrics_listen === undefined ? undefined : hostAndPort(c.metrics_listen, 'metrics_listen', origins.metrics_listen),
    db,
    storage: c.storage,
    adminPassword: env.HATOBA_ADMIN_PASSWORD || undefined,
    masterKey: env.HATOBA_MASTER_KEY || undefined,
  };
}

/** The other key of a duration pair (`header_timeout` and `header_timeout_seconds`), if `key` is one. */
function durationPartner(key: string): string | undefined {
  for (const [short, long] of Object.entries(DURATION_ALIASES)) {
    if (key === short) return long;
    if (key === long) return short;
  }
  return undefined;
}

/** One line per problem: the key, what is wrong, and the flag, variable or file that set it. */
function describeIssue(issue: z.core.$ZodIssue, origins: Record<string, string>, filePath: string | undefined): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `  ${key}: not a configuration key (in the config file ${filePath}); the keys are listed in docs/configuration.md`);
  }
  const key = String(issue.path[0] ?? '');
  // A rule across keys (tls_cert with tls_key) names the keys that were given.
  const words = issue.message.split(/[^A-Za-z0-9_]+/);
  const given = origins[key] ? [origins[key]] : Object.keys(origins).filter((k) => words.includes(k)).map((k) => origins[k]!);
  return [`  ${issue.path.join('.') || '(config)'}: ${plainMessage(issue)}${given.length ? ` (from ${given.join(' and ')})` : ''}`];
}

/** zod's wording for the common cases, said as a rule ("must be a whole number"); the schema's own messages as they are. */
function plainMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_type':
      if (issue.expected === 'boolean') return 'must be true or false';
      return issue.expected === 'number' || issue.expected === 'int' ? 'must be a whole number' : `must be a ${issue.expected}`;
    case 'too_small':
      return issue.origin === 'number' ? `must be ${issue.inclusive ? 'at least' : 'above'} ${issue.minimum}` : issue.message;
    case 'too_big':
      return issue.origin === 'number' ? `must be ${issue.inclusive ? 'at most' : 'below'} ${issue.maximum}` : issue.message;
    case 'invalid_format':
      return issue.format === 'url' ? 'must be a URL, e.g. https://registry.example' : issue.message;
    default:
      return issue.message;
  }
}

/** A HOST:PORT that matched LISTEN, as the host (IPv6 without brackets) and port. */
function hostAndPort(value: string, key: string, origin: string | undefined): { host: string; port: number } {
  const m = LISTEN.exec(value)!;
  const port = Number(m[2]);
  if (port > 65535) throw new ConfigError(`invalid configuration: ${key} port ${port} is above 65535${origin ? ` (from ${origin})` : ''}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function isOrigin(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return url.origin !== 'null' && (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash && !url.username;
}

function readConfigFile(path: string, origin: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'there is no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new ConfigError(`cannot read config file ${path} (named by ${origin}): ${why}`);
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
