// The registry's error codes, registered once: each has the HTTP status and
// the message the OCI distribution spec gives it. The domain throws
// RegistryError; server/errors.ts turns it into the JSON envelope. It is
// part of the wire protocol, not of the registry domain, so it lives here
// where registry/, auth/ and server/ can all use it without importing
// each other.
//
// Cases the spec has no code of its own for, and the code they answer:
//   a tag that is not valid syntax, on PUT      400 MANIFEST_INVALID
//     (on GET/HEAD/DELETE it names nothing:    404 MANIFEST_UNKNOWN)
//   a page size `n` that is not a number        400 UNSUPPORTED
//   a blob Range outside the blob               416 SIZE_INVALID, Content-Range: bytes */SIZE
//   a body over a limit                         413 SIZE_INVALID (manifests: 413 MANIFEST_INVALID)
//   broken framing (Content-Length, cut short)  400 SIZE_INVALID
//   a server fault                              500 UNSUPPORTED, "internal server error"

/**
 * The OCI distribution spec's error codes, exactly its table of 14: an
 * error's `code` on /v2/ MUST be one of them. Each carries the status it
 * usually goes with; a case that needs another passes its own (416, 413).
 */
export const OCI_ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
} as const satisfies Record<string, { status: number; message: string }>;

/**
 * The management API's own codes (/api/v1 only, beside the OCI ones it
 * also answers: UNAUTHORIZED, DENIED, TOOMANYREQUESTS). server/errors.ts
 * never lets one of these out on /v2/.
 */
export const API_ERROR_CODES = {
  INVALID_ARGUMENT: { status: 400, message: 'invalid argument' },
  NOT_FOUND: { status: 404, message: 'not found' },
  CONFLICT: { status: 409, message: 'already exists' },
} as const satisfies Record<string, { status: number; message: string }>;

export const ERROR_CODES = { ...OCI_ERROR_CODES, ...API_ERROR_CODES };

export type OciErrorCode = keyof typeof OCI_ERROR_CODES;
export type ApiErrorCode = keyof typeof API_ERROR_CODES;
export type ErrorCode = OciErrorCode | ApiErrorCode;

export function isOciErrorCode(code: string): code is OciErrorCode {
  return Object.hasOwn(OCI_ERROR_CODES, code);
}

export class RegistryError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly detail?: unknown,
    /** Overrides the code's status where the spec asks for another (416, 413). */
    status?: number,
    /** Extra response headers the spec wants with this error (e.g. Range on 416). */
    readonly headers?: Record<string, string>,
  ) {
    super(message ?? ERROR_CODES[code].message);
    this.status = status ?? ERROR_CODES[code].status;
  }

  /** Further errors reported in the same response (e.g. every unknown blob of a manifest). */
  others: RegistryError[] = [];

  static all(errors: RegistryError[]): RegistryError {
    const [first, ...rest] = errors;
    first!.others = rest;
    return first!;
  }
}
