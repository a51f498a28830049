<?php

declare(strict_types=1);

namespace Stablegate;

/**
 * The API answered with an error status; `reason` is the stable UPPER_SNAKE code from the body's ErrorInfo.
 */
class ApiException extends StablegateException
{
    /** Statuses a retry may change. */
    public const RETRYABLE = [429, 503, 504];
    private const FAILED_PRECONDITION = 9;
    private const PLAIN_TEXT_REASONS = [408 => 'REQUEST_TIMEOUT', 429 => 'RATE_LIMITED', 503 => 'UNAVAILABLE', 504 => 'UPSTREAM_TIMEOUT'];
    private const BY_STATUS = [
        400 => BadRequestException::class,
        401 => AuthenticationException::class,
        403 => PermissionDeniedException::class,
        404 => NotFoundException::class,
        408 => TimeoutException::class,
        409 => ConflictException::class,
        429 => RateLimitException::class,
        503 => ServiceUnavailableException::class,
        504 => TimeoutException::class,
    ];

    /**
     * @param array<string, string> $metadata the ErrorInfo's metadata (`field` names the request field at fault)
     * @param array<string, string> $headers the response headers, lower-case names
     */
    final public function __construct(
        public readonly int $status,
        public readonly ?int $grpcCode,
        public readonly string $reason,
        public readonly string $apiMessage,
        public readonly array $metadata,
        public readonly array $headers,
    ) {
        parent::__construct("{$status} {$reason}: {$apiMessage}");
    }

    /** The request field at fault, when the API named one. */
    public function field(): ?string
    {
        return $this->metadata['field'] ?? null;
    }

    /** Whether the same request may succeed later (429, 503, 504). */
    public function retryable(): bool
    {
        return in_array($this->status, self::RETRYABLE, true);
    }

    /** Seconds the API asked to wait (Retry-After), when it said. */
    public function retryAfter(): ?float
    {
        $value = $this->headers['retry-after'] ?? null;
        return $value !== null && is_numeric($value) ? max(0.0, (float) $value) : null;
    }

    /**
     * The typed error for an error answer.
     *
     * @param array<string, string> $headers lower-case names
     */
    public static function fromResponse(int $status, array $headers, string $body): self
    {
        $code = null;
        $reason = self::PLAIN_TEXT_REASONS[$status] ?? "HTTP_{$status}";
        $message = substr(trim($body), 0, 500);
        $metadata = [];
        $parsed = json_decode($body, true);
        if (is_array($parsed)) {
            $code = is_int($parsed['code'] ?? null) ? $parsed['code'] : null;
            $message = is_string($parsed['message'] ?? null) ? $parsed['message'] : $message;
            foreach (is_array($parsed['details'] ?? null) ? $parsed['details'] : [] as $detail) {
                if (is_array($detail) && str_ends_with((string) ($detail['@type'] ?? ''), 'google.rpc.ErrorInfo')) {
                    $reason = is_string($detail['reason'] ?? null) && $detail['reason'] !== '' ? $detail['reason'] : $reason;
                    foreach (is_array($detail['metadata'] ?? null) ? $detail['metadata'] : [] as $key => $value) {
                        $metadata[(string) $key] = (string) $value;
                    }
                    break;
                }
            }
        }
        $class = self::BY_STATUS[$status] ?? self::class;
        if ($status === 400 && $code === self::FAILED_PRECONDITION) {
            $class = FailedPreconditionException::class;
        }
        return new $class($status, $code, $reason, $message, $metadata, $headers);
    }
}
