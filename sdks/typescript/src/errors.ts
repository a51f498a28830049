/**
 * Typed errors: every failed call throws an `ApiError` subclass carrying the API's stable `reason` code.
 *
 * The API answers errors as a `google.rpc.Status` in JSON: `code` (the gRPC code), `message` (for humans) and
 * `details[0]`, an `ErrorInfo` whose `reason` (UPPER_SNAKE) is what code should branch on, with `metadata`
 * (`field` names the request field at fault).
 */

/** The gRPC code Envoy's transcoder maps to HTTP 400 when a resource is in the wrong state. */
const FAILED_PRECONDITION = 9;
/** Reasons for the few answers Envoy sends as plain text, without an ErrorInfo. */
const PLAIN_TEXT_REASONS: Record<number, string> = {
  408: "REQUEST_TIMEOUT",
  429: "RATE_LIMITED",
  503: "UNAVAILABLE",
  504: "UPSTREAM_TIMEOUT",
};
/** Statuses a retry may change. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 503, 504]);

/** The root of every error this SDK throws. */
export class StablegateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The request did not get an answer: the connection failed, was reset, or timed out. */
export class ApiConnectionError extends StablegateError {}

/** A webhook failed verification; `reason` says why (`SIGNATURE_INVALID`, `TIMESTAMP_TOO_OLD`, ...). */
export class WebhookVerificationError extends StablegateError {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** The API answered with an error status. */
export class ApiError extends StablegateError {
  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** The gRPC status code from the body (3 INVALID_ARGUMENT, ...); undefined for a plain-text answer. */
    readonly code: number | undefined,
    /** The stable UPPER_SNAKE reason (`AMOUNT_INVALID`, `INVOICE_NOT_FOUND`, ...): branch on this. */
    readonly reason: string,
    /** The human-readable message; do not parse it. */
    readonly apiMessage: string,
    /** The ErrorInfo's metadata: `field` names the request field at fault. */
    readonly metadata: Readonly<Record<string, string>>,
    /** The response headers. */
    readonly headers: Headers,
  ) {
    super(`${status} ${reason}: ${apiMessage}`);
  }

  /** The request field at fault, when the API named one. */
  get field(): string | undefined {
    return this.metadata["field"];
  }

  /** Whether the same request may succeed later (429, 503, 504). */
  get retryable(): boolean {
    return RETRYABLE_STATUSES.has(this.status);
  }

  /** Seconds the API asked to wait (`Retry-After`), when it said. */
  get retryAfter(): number | undefined {
    return parseRetryAfter(this.headers);
  }
}

/** 400: a bad field or request (`AMOUNT_INVALID`, `PAGE_TOKEN_INVALID`, ...). */
export class BadRequestError extends ApiError {}
/** 400 with gRPC code 9: the resource is not in a state that allows the call (`INVOICE_NOT_CANCELABLE`). */
export class FailedPreconditionError extends BadRequestError {}
/** 401: no usable API key (`API_KEY_MISSING`, `API_KEY_INVALID`, ...). */
export class AuthenticationError extends ApiError {}
/** 403: the key may not make this call (`SCOPE_MISSING`, ...). */
export class PermissionDeniedError extends ApiError {}
/** 404: no such resource for this merchant (`INVOICE_NOT_FOUND`, ...). */
export class NotFoundError extends ApiError {}
/** 409: `REQUEST_ID_REUSED` or `ORDER_ID_EXISTS`. */
export class ConflictError extends ApiError {}
/** 429: over a rate limit (`RATE_LIMITED`). */
export class RateLimitError extends ApiError {}
/** 503: a service is down or keys cannot be verified right now. */
export class ServiceUnavailableError extends ApiError {}
/** 408 or 504: the edge timed out. */
export class TimeoutError extends ApiError {}

const BY_STATUS: Record<number, typeof ApiError> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  408: TimeoutError,
  409: ConflictError,
  429: RateLimitError,
  503: ServiceUnavailableError,
  504: TimeoutError,
};

/** Seconds from a `Retry-After` header (delta seconds), or undefined. */
export function parseRetryAfter(headers: Headers): number | undefined {
  const value = headers.get("retry-after");
  if (value === null) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) ? Math.max(0, seconds) : undefined;
}

/** The typed error for an error answer; `body` is the parsed JSON (or the text when it was not JSON). */
export function errorFromResponse(status: number, headers: Headers, body: unknown): ApiError {
  let code: number | undefined;
  let reason = PLAIN_TEXT_REASONS[status] ?? `HTTP_${status}`;
  let message = typeof body === "string" ? body.trim().slice(0, 500) : "";
  let metadata: Record<string, string> = {};
  if (body !== null && typeof body === "object") {
    const parsed = body as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof parsed.code === "number") code = parsed.code;
    if (typeof parsed.message === "string") message = parsed.message;
    for (const detail of Array.isArray(parsed.details) ? parsed.details : []) {
      const info = detail as { "@type"?: unknown; reason?: unknown; metadata?: unknown };
      if (typeof info["@type"] === "string" && info["@type"].endsWith("google.rpc.ErrorInfo")) {
        if (typeof info.reason === "string" && info.reason) reason = info.reason;
        if (info.metadata && typeof info.metadata === "object") {
          metadata = Object.fromEntries(Object.entries(info.metadata).map(([k, v]) => [k, String(v)]));
        }
        break;
      }
    }
  }
  let cls = BY_STATUS[status] ?? ApiError;
  if (status === 400 && code === FAILED_PRECONDITION) cls = FailedPreconditionError;
  return new cls(status, code, reason, message, metadata, headers);
}
