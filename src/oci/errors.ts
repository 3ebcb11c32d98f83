// The one base error class, and the Distribution spec's error codes with the error type a client
// of the registry meets.

/**
 * Every error Wharf throws on purpose extends this, so a caller can tell "Wharf refused" (a bad
 * name, a broken archive, a spec error) from a bug or a system error with one `instanceof`.
 */
export class WharfError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export const ErrorCodes = {
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
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  UNKNOWN: { status: 500, message: 'unknown error' },
  // Wharf's own, for its admin API (/api/v1), in the same JSON shape.
  NOT_FOUND: { status: 404, message: 'not found' },
  CONFLICT: { status: 409, message: 'already exists' },
  INVALID: { status: 400, message: 'invalid request' },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class RegistryError extends WharfError {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: unknown;
  /** Response headers the error needs (WWW-Authenticate on a 401, Retry-After on a 429). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message?: string, opts: { status?: number; detail?: unknown; headers?: Record<string, string> } = {}) {
    super(message ?? ErrorCodes[code].message);
    this.code = code;
    this.status = opts.status ?? ErrorCodes[code].status;
    this.detail = opts.detail;
    this.headers = opts.headers ?? {};
  }

  /** The spec's JSON error body. */
  toBody(): { errors: { code: string; message: string; detail?: unknown }[] } {
    const entry: { code: string; message: string; detail?: unknown } = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

export function isRegistryError(e: unknown): e is RegistryError {
  return e instanceof RegistryError;
}
