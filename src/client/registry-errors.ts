// Errors of the registry client: what a registry answered (the OCI error
// envelope, or an OAuth2 error from a token endpoint), a registry that could
// not be reached, and content that does not match its digest or size.

export interface OciErrorEntry {
  code: string;
  message: string;
  detail?: unknown;
}

/** What the client was doing when a request failed, for messages. */
export interface RequestContext {
  method: string;
  url: string;
  /** e.g. "push blob sha256:... to system/oracle_db" */
  operation?: string;
  repository?: string;
  /** The right the request needed: pull, push or delete. */
  action?: string;
}

/** A registry (or its token service) answered with an error status. */
export class RegistryApiError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** First OCI error code (BLOB_UNKNOWN, DENIED, UNAUTHORIZED, ...), or one derived from the status when the body had none. */
  readonly code: string;
  /** The server's own message for the first error (or the status text). */
  readonly serverMessage: string;
  readonly detail?: unknown;
  /** Every entry of the envelope. */
  readonly errors: OciErrorEntry[];
  readonly method: string;
  readonly url: string;
  readonly operation?: string;
  readonly repository?: string;
  readonly action?: string;
  /** Seconds, from Retry-After (429, 503). */
  readonly retryAfter?: number;

  constructor(init: { status: number; errors: OciErrorEntry[]; context: RequestContext; retryAfter?: number; fallbackMessage?: string }) {
    const first = init.errors[0];
    const code = first?.code ?? codeForStatus(init.status);
    const serverMessage = first?.message || init.fallbackMessage || `HTTP ${init.status}`;
    super(describe(code, serverMessage, init.status, init.context));
    this.name = 'RegistryApiError';
    this.status = init.status;
    this.code = code;
    this.serverMessage = serverMessage;
    this.detail = first?.detail;
    this.errors = init.errors;
    this.method = init.context.method;
    this.url = init.context.url;
    this.operation = init.context.operation;
    this.repository = init.context.repository;
    this.action = init.context.action;
    this.retryAfter = init.retryAfter;
  }

  /** The registry does not have what was asked for (404 of any kind). */
  get notFound(): boolean {
    return this.status === 404;
  }
}

/** The registry could not be reached or the connection broke (refused, DNS, TLS, timeout, reset). */
export class RegistryConnectionError extends Error {
  constructor(
    readonly url: string,
    message: string,
    /** e.g. ECONNREFUSED, ENOTFOUND, ECONNRESET, ETIMEDOUT, CERT_HAS_EXPIRED. */
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RegistryConnectionError';
  }
}

/** Content whose digest (or size) is not the one it was asked for or announced with. */
export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
    /** e.g. "blob sha256:... from library/hello" */
    readonly what: string,
    readonly expectedSize?: number,
    readonly actualSize?: number,
  ) {
    super(
      expectedSize !== undefined && actualSize !== undefined && expectedSize !== actualSize
        ? `${what}: expected ${expectedSize} bytes, got ${actualSize}; the content is corrupt or was changed in transit`
        : `${what}: content digest is ${actual}, expected ${expected}; the content is corrupt or was changed in transit`,
    );
    this.name = 'DigestMismatchError';
  }
}

/** A request the client refuses to make or an answer it cannot use (bad input, malformed response). */
export class RegistryClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RegistryClientError';
  }
}

export function codeForStatus(status: number): string {
  switch (status) {
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'DENIED';
    case 404:
      return 'NOT_FOUND';
    case 405:
      return 'UNSUPPORTED';
    case 416:
      return 'RANGE_INVALID';
    case 429:
      return 'TOOMANYREQUESTS';
    default:
      return status >= 500 ? 'UNAVAILABLE' : 'UNKNOWN';
  }
}

/**
 * Reads an error body: the OCI envelope `{"errors":[...]}`, a single
 * `{"code","message"}`, or OAuth2's `{"error","error_description"}`.
 */
export function parseErrorBody(text: string): { errors: OciErrorEntry[]; fallback?: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { errors: [] };
  try {
    const body = JSON.parse(trimmed) as Record<string, unknown>;
    if (Array.isArray(body.errors)) {
      const errors = body.errors
        .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
        .map((e) => ({ code: String(e.code ?? 'UNKNOWN').toUpperCase(), message: typeof e.message === 'string' ? e.message : '', ...(e.detail !== undefined ? { detail: e.detail } : {}) }));
      return { errors };
    }
    if (typeof body.code === 'string') return { errors: [{ code: body.code.toUpperCase(), message: String(body.message ?? '') }] };
    if (typeof body.error === 'string') {
      const description = typeof body.error_description === 'string' ? body.error_description : body.error;
      return { errors: [{ code: body.error === 'invalid_grant' ? 'UNAUTHORIZED' : body.error.toUpperCase(), message: description }] };
    }
    if (typeof body.details === 'string') return { errors: [], fallback: body.details };
  } catch {
    // not JSON: keep a short plain-text excerpt
  }
  return { errors: [], fallback: trimmed.replace(/\s+/g, ' ').slice(0, 200) };
}

function describe(code: string, serverMessage: string, status: number, context: RequestContext): string {
  const what = context.operation ?? `${context.method} ${safeUrl(context.url)}`;
  let message = `${what}: ${code.toLowerCase()}: ${serverMessage}`;
  if ((code === 'DENIED' || status === 403) && context.repository) {
    // Registries other than Hatoba say only "requested access to the resource is denied".
    const right = context.action ?? 'access';
    if (!serverMessage.includes(context.repository)) message += ` (${right} on repository ${context.repository})`;
  } else if (code === 'UNAUTHORIZED' && context.repository && !serverMessage.includes(context.repository)) {
    message += ` (${context.action ?? 'access'} on repository ${context.repository}; check the credentials or sign in)`;
  }
  return message;
}

/** A URL without credentials or query (tokens and upload state may be in it). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url.split('?', 1)[0]!;
  }
}
