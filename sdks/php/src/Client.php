<?php

declare(strict_types=1);

namespace Stablegate;

use Stablegate\Resource\Balance;
use Stablegate\Resource\Invoices;
use Stablegate\Resource\Payouts;
use Stablegate\Resource\WebhookEndpoints;

/**
 * A client of the stablegate REST API for one merchant key (ext-curl, ext-json; no Composer dependencies).
 *
 *     $client = new Stablegate\Client('sk_test_...', 'https://pay.example.com');
 *     $invoice = $client->invoices->create(['amount' => '10.50', 'order_id' => 'order-1001']);
 *
 * Connection failures and 429/503/504 are retried for reads, creates (which carry an Idempotency-Key, the same on
 * every retry) and cancels, up to `$maxRetries` times with exponential backoff, honouring Retry-After.
 */
final class Client
{
    public const VERSION = '0.1.0';
    /** The REST API version this SDK speaks. */
    public const API_VERSION = 'v1';
    /** The webhook payload version this SDK's docs and examples are written for. */
    public const WEBHOOK_API_VERSION = '2026-11-25';

    public readonly Invoices $invoices;
    public readonly Payouts $payouts;
    public readonly Balance $balance;
    public readonly WebhookEndpoints $webhookEndpoints;
    private readonly string $apiKey;
    private readonly string $baseUrl;
    /** @var \Closure(float): void */
    private readonly \Closure $sleep;

    /**
     * @param ?\Closure(float): void $sleep how to wait between retries, in seconds (tests pass their own)
     */
    public function __construct(
        string $apiKey,
        string $baseUrl,
        public readonly int $maxRetries = 2,
        public readonly float $backoff = 0.5,
        public readonly float $timeout = 30.0,
        ?\Closure $sleep = null,
    ) {
        if (trim($apiKey) === '') {
            throw new \InvalidArgumentException('apiKey is empty: pass the merchant\'s API key (sk_test_... or sk_live_...)');
        }
        if (!preg_match('#^https?://#', $baseUrl)) {
            throw new \InvalidArgumentException("baseUrl must start with http:// or https://, got '{$baseUrl}'");
        }
        $this->apiKey = trim($apiKey);
        $this->baseUrl = rtrim($baseUrl, '/');
        $this->sleep = $sleep ?? static function (float $seconds): void {
            usleep((int) ($seconds * 1_000_000));
        };
        $this->invoices = new Invoices($this);
        $this->payouts = new Payouts($this);
        $this->balance = new Balance($this);
        $this->webhookEndpoints = new WebhookEndpoints($this);
    }

    /** A fresh Idempotency-Key, made once per create and sent on every retry of it. */
    public static function newIdempotencyKey(): string
    {
        return 'sdk_' . bin2hex(random_bytes(16));
    }

    /**
     * One API call: the decoded 200 answer, or the typed ApiException.
     *
     * Retried (connection failures, 429/503/504) only when `$retrySafe`, by default: a GET or DELETE, a request
     * with an Idempotency-Key header, or a cancel; pass an Idempotency-Key to make another POST retry-safe.
     *
     * @param array<string, scalar|null> $query
     * @param ?array<string, mixed> $body
     * @param array<string, string> $headers
     * @return array<string, mixed>
     */
    public function request(
        string $method,
        string $path,
        array $query = [],
        ?array $body = null,
        array $headers = [],
        ?bool $retrySafe = null,
    ): array {
        // Safe to send twice: a read, a write carrying an Idempotency-Key, or a cancel (canceling twice is a no-op).
        $retrySafe ??= in_array($method, ['GET', 'DELETE'], true)
            || array_key_exists('Idempotency-Key', $headers)
            || str_ends_with($path, ':cancel');
        $query = array_filter($query, static fn (mixed $v): bool => $v !== null);
        $url = $this->baseUrl . $path . ($query ? '?' . http_build_query($query, '', '&', PHP_QUERY_RFC3986) : '');
        $lines = ["Authorization: Bearer {$this->apiKey}", 'User-Agent: stablegate-sdk-php/' . self::VERSION];
        foreach ($headers as $name => $value) {
            $lines[] = "{$name}: {$value}";
        }
        $payload = null;
        if ($body !== null) {
            $payload = json_encode((object) $body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
            $lines[] = 'Content-Type: application/json';
        }
        for ($attempt = 0; ; $attempt++) {
            $error = null;
            [$status, $responseHeaders, $responseBody, $failure] = $this->send($method, $url, $lines, $payload);
            if ($failure !== null) {
                if (!$retrySafe || $attempt >= $this->maxRetries) {
                    throw new ApiConnectionException("{$method} {$url}: {$failure}");
                }
            } elseif ($status === 200) {
                $decoded = $responseBody === '' ? [] : json_decode($responseBody, true, 512, JSON_THROW_ON_ERROR);
                return is_array($decoded) ? $decoded : [];
            } else {
                $error = ApiException::fromResponse($status, $responseHeaders, $responseBody);
                if (!$retrySafe || !$error->retryable() || $attempt >= $this->maxRetries) {
                    throw $error;
                }
            }
            ($this->sleep)($this->delay($attempt, $error));
        }
    }

    private function delay(int $attempt, ?ApiException $error): float
    {
        $asked = $error?->retryAfter();
        if ($asked !== null) {
            return min($asked, 60.0);
        }
        return min(8.0, $this->backoff * 2 ** $attempt) * (0.5 + mt_rand() / mt_getrandmax() / 2);
    }

    /**
     * @param list<string> $headers
     * @return array{0: int, 1: array<string, string>, 2: string, 3: ?string}
     */
    private function send(string $method, string $url, array $headers, ?string $payload): array
    {
        $responseHeaders = [];
        $curl = curl_init($url);
        curl_setopt_array($curl, [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_TIMEOUT_MS => (int) ($this->timeout * 1000),
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_HEADERFUNCTION => static function ($handle, string $line) use (&$responseHeaders): int {
                $parts = explode(':', $line, 2);
                if (count($parts) === 2) {
                    $responseHeaders[strtolower(trim($parts[0]))] = trim($parts[1]);
                }
                return strlen($line);
            },
        ]);
        if ($payload !== null) {
            curl_setopt($curl, CURLOPT_POSTFIELDS, $payload);
        }
        $body = curl_exec($curl);
        if ($body === false) {
            $failure = curl_error($curl) ?: 'no answer';
            curl_close($curl);
            return [0, [], '', $failure];
        }
        $status = (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
        curl_close($curl);
        return [$status, $responseHeaders, (string) $body, null];
    }
}
