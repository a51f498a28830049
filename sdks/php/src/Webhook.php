<?php

declare(strict_types=1);

namespace Stablegate;

/**
 * Verify webhooks the gateway signs, per Standard Webhooks: `v1` (HMAC-SHA256 with the endpoint's whsec_ secret)
 * and `v1a` (ed25519 with its whpk_ public key, ext-sodium), with replay protection by timestamp tolerance.
 *
 *     $event = Stablegate\Webhook::verify(file_get_contents('php://input'), getallheaders(), secrets: 'whsec_...');
 *
 * Verify the raw body exactly as received, before decoding it. A delivery passes when any of its signatures
 * verifies with any secret or key given (during a rotation give both) and its webhook-timestamp is within
 * `$tolerance` seconds of now.
 */
final class Webhook
{
    /** The specification's 5 minutes. */
    public const DEFAULT_TOLERANCE = 300;

    /**
     * The event envelope (id, type, created, api_version, data) if the delivery is genuine and fresh; otherwise
     * a WebhookVerificationException with a reason: HEADERS_MISSING, TIMESTAMP_INVALID, TIMESTAMP_TOO_OLD,
     * TIMESTAMP_TOO_NEW, SIGNATURE_INVALID or PAYLOAD_INVALID.
     *
     * @param array<string, string|list<string>> $headers any case
     * @param string|list<string> $secrets
     * @param string|list<string> $publicKeys
     * @return array<string, mixed>
     */
    public static function verify(
        string $body,
        array $headers,
        string|array $secrets = [],
        string|array $publicKeys = [],
        int $tolerance = self::DEFAULT_TOLERANCE,
        ?int $now = null,
    ): array {
        $secretBytes = array_map(static fn (string $s): string => self::decodeKey($s, 'whsec_', 'a webhook secret'), (array) $secrets);
        $keyBytes = array_map(static fn (string $k): string => self::decodeKey($k, 'whpk_', 'a webhook public key'), (array) $publicKeys);
        if ($secretBytes === [] && $keyBytes === []) {
            throw new \InvalidArgumentException('give at least one endpoint secret (whsec_...) or public key (whpk_...)');
        }
        $lower = [];
        foreach ($headers as $name => $value) {
            $lower[strtolower((string) $name)] = is_array($value) ? (string) ($value[0] ?? '') : (string) $value;
        }
        $id = $lower['webhook-id'] ?? '';
        $stamp = $lower['webhook-timestamp'] ?? '';
        $signatures = $lower['webhook-signature'] ?? '';
        if ($id === '' || $stamp === '' || $signatures === '') {
            throw new WebhookVerificationException('HEADERS_MISSING', 'webhook-id, webhook-timestamp and webhook-signature are all required');
        }
        if (!ctype_digit($stamp)) {
            throw new WebhookVerificationException('TIMESTAMP_INVALID', 'webhook-timestamp is not Unix seconds');
        }
        $now ??= time();
        if ((int) $stamp < $now - $tolerance) {
            throw new WebhookVerificationException('TIMESTAMP_TOO_OLD', 'webhook-timestamp is too old: a replay, or a slow clock');
        }
        if ((int) $stamp > $now + $tolerance) {
            throw new WebhookVerificationException('TIMESTAMP_TOO_NEW', 'webhook-timestamp is in the future: check the clock');
        }
        $signed = "{$id}.{$stamp}.{$body}";
        if (!self::anySignatureValid($signed, $signatures, $secretBytes, $keyBytes)) {
            throw new WebhookVerificationException('SIGNATURE_INVALID', 'no signature verified with the given keys');
        }
        $event = json_decode($body, true);
        if (!is_array($event) || !is_string($event['id'] ?? null) || !is_string($event['type'] ?? null)) {
            throw new WebhookVerificationException('PAYLOAD_INVALID', 'the signed body is not an event envelope');
        }
        return $event;
    }

    /**
     * @param list<string> $secrets raw bytes
     * @param list<string> $publicKeys raw bytes
     */
    private static function anySignatureValid(string $signed, string $header, array $secrets, array $publicKeys): bool
    {
        foreach (explode(' ', $header) as $part) {
            [$version, $encoded] = array_pad(explode(',', $part, 2), 2, '');
            $signature = base64_decode($encoded, true);
            if ($signature === false) {
                continue;
            }
            if ($version === 'v1') {
                foreach ($secrets as $secret) {
                    if (hash_equals(hash_hmac('sha256', $signed, $secret, true), $signature)) {
                        return true;
                    }
                }
            } elseif ($version === 'v1a' && strlen($signature) === SODIUM_CRYPTO_SIGN_BYTES) {
                foreach ($publicKeys as $key) {
                    if (strlen($key) === SODIUM_CRYPTO_SIGN_PUBLICKEYBYTES && sodium_crypto_sign_verify_detached($signature, $signed, $key)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private static function decodeKey(string $value, string $prefix, string $what): string
    {
        $decoded = base64_decode(str_starts_with($value, $prefix) ? substr($value, strlen($prefix)) : $value, true);
        if ($decoded === false || $decoded === '') {
            throw new \InvalidArgumentException("{$what} is not {$prefix} followed by base64");
        }
        return $decoded;
    }
}
