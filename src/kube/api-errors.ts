// Errors from the apiserver, typed from the Status object it sends (as client-go's apierrors): the
// reason and details.causes are kept, and the helpers decide by reason and code, never by the wording
// of a message.

/** A cause in Status.details: which field, and why. */
export interface StatusCause { reason?: string; message?: string; field?: string }

/** A Kubernetes Status (an error body, or a watch ERROR event's object). */
export interface Status {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
}

export class ApiError extends Error {
  /** HTTP status code. */
  readonly status: number;
  /** Status.reason (CamelCase, e.g. Conflict, AlreadyExists, NotFound, Expired), or 'Unknown'. */
  readonly reason: string;
  readonly details: Status['details'];
  /** Seconds the server asked us to wait (the Retry-After header, else details.retryAfterSeconds). */
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, reason: string, message: string, options?: ErrorOptions & { details?: Status['details']; retryAfterSeconds?: number }) {
    super(message, options);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
    this.details = options?.details;
    this.retryAfterSeconds = options?.retryAfterSeconds ?? options?.details?.retryAfterSeconds;
  }
  get causes(): readonly StatusCause[] { return this.details?.causes ?? []; }
}

/** A Status body is one only if it says so; anything else (an HTML page from a proxy) is not trusted for a reason. */
function asStatus(body: unknown): Status | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const s = body as Status;
  return s.kind === 'Status' || typeof s.reason === 'string' ? s : undefined;
}

/**
 * The ApiError for an answer with a non-2xx status (or a watch ERROR event); `fallback` is what to
 * show when the body carries no message. The causes, when there are any, end the message.
 */
export function statusError(what: string, status: number, body: unknown, fallback: string, retryAfterSeconds?: number): ApiError {
  const s = asStatus(body);
  const causes = s?.details?.causes?.map((c) => `${c.field ? `${c.field}: ` : ''}${c.message ?? c.reason ?? ''}`).filter(Boolean) ?? [];
  const message = s?.message ?? fallback;
  const extra = causes.length > 0 && !causes.every((c) => message.includes(c)) ? ` (${causes.join('; ')})` : '';
  return new ApiError(status, s?.reason || reasonForCode(status), `${what}: ${status} ${message}${extra}`, { details: s?.details, retryAfterSeconds });
}

/** client-go's reasonForError fallback: the reason a bare status code implies. */
function reasonForCode(code: number): string {
  switch (code) {
    case 400: return 'BadRequest';
    case 401: return 'Unauthorized';
    case 403: return 'Forbidden';
    case 404: return 'NotFound';
    case 405: return 'MethodNotAllowed';
    case 406: return 'NotAcceptable';
    case 409: return 'Conflict';
    case 410: return 'Gone';
    case 413: return 'RequestEntityTooLarge';
    case 415: return 'UnsupportedMediaType';
    case 422: return 'Invalid';
    case 429: return 'TooManyRequests';
    case 500: return 'InternalError';
    case 503: return 'ServiceUnavailable';
    case 504: return 'Timeout';
    default: return 'Unknown';
  }
}

/** The ApiError in an error or its chain of causes (errors wrapped with `{ cause }`). */
export function apiErrorOf(e: unknown): ApiError | undefined {
  for (let x = e, depth = 0; x instanceof Error && depth < 8; x = x.cause, depth++) if (x instanceof ApiError) return x;
  return undefined;
}

const hasReason = (e: unknown, ...reasons: string[]): boolean => { const a = apiErrorOf(e); return a !== undefined && reasons.includes(a.reason); };

export const isNotFound = (e: unknown): boolean => hasReason(e, 'NotFound');
/** An optimistic-concurrency failure (stale resourceVersion, failed precondition): routine, retry from a fresh read. */
export const isConflict = (e: unknown): boolean => hasReason(e, 'Conflict');
export const isAlreadyExists = (e: unknown): boolean => hasReason(e, 'AlreadyExists');
export const isInvalid = (e: unknown): boolean => hasReason(e, 'Invalid');
export const isForbidden = (e: unknown): boolean => hasReason(e, 'Forbidden');
/** 410: the resourceVersion (or continue token) is older than the history the server keeps. */
export const isGone = (e: unknown): boolean => hasReason(e, 'Expired', 'Gone') || apiErrorOf(e)?.status === 410;
export const isTooManyRequests = (e: unknown): boolean => hasReason(e, 'TooManyRequests');
/** A create refused because its namespace is being deleted (Status cause NamespaceTerminating, as client-go checks). */
export const isNamespaceTerminating = (e: unknown): boolean =>
  apiErrorOf(e)?.causes.some((c) => c.reason === 'NamespaceTerminating') ?? false;
