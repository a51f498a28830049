<?php

declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use Stablegate\AuthenticationException;
use Stablegate\BadRequestException;
use Stablegate\Client;
use Stablegate\ConflictException;
use Stablegate\Model\InvoiceStatus;
use Stablegate\NotFoundException;
use Stablegate\PermissionDeniedException;
use Stablegate\ServiceUnavailableException;
use Stablegate\Webhook;
use Stablegate\WebhookVerificationException;

/** The PHP SDK against the live edge (tests/sdks/test_php_sdk.py passes its URL, keys and a real delivery). */
final class ClientTest extends TestCase
{
    private static function env(string $name): string
    {
        $value = getenv($name);
        if ($value === false || $value === '') {
            throw new RuntimeException("{$name} is not set: run this suite through pytest tests/sdks/test_php_sdk.py");
        }
        return $value;
    }

    private static function client(): Client
    {
        return new Client(self::env('STABLEGATE_KEY'), self::env('STABLEGATE_URL'));
    }

    /** @return list<string> */
    private static function ids(iterable $invoices): array
    {
        $ids = [];
        foreach ($invoices as $invoice) {
            $ids[] = $invoice->id;
        }
        return $ids;
    }

    public function testCreateGetListEveryPageAndCancel(): void
    {
        $client = self::client();
        $made = [];
        foreach (range(0, 4) as $i) {
            $made[] = $client->invoices->create(['amount' => '10.50', 'order_id' => "php-{$i}", 'description' => '2 coffees']);
        }
        $this->assertSame(InvoiceStatus::INVOICE_STATUS_OPEN, $made[0]->status);
        $this->assertSame(['10.5', '10500000000000000000'], [$made[0]->amount, $made[0]->amount_base_units]);
        $got = $client->invoices->get($made[2]->id);
        $this->assertSame([$made[2]->id, 'php-2', $made[2]->deposit_address], [$got->id, $got->order_id, $got->deposit_address]);

        $first = $client->invoices->listPage(['page_size' => 2]);
        $this->assertCount(2, $first->invoices);
        $this->assertNotEmpty($first->next_page_token);
        $expected = array_reverse(array_map(static fn ($i) => $i->id, $made));
        $this->assertSame($expected, self::ids($client->invoices->list(['page_size' => 2])), 'every invoice once, newest first');

        $this->assertSame(InvoiceStatus::INVOICE_STATUS_CANCELED, $client->invoices->cancel($made[0]->id, 'changed mind')->status);
        $this->assertSame(InvoiceStatus::INVOICE_STATUS_CANCELED, $client->invoices->cancel($made[0]->id)->status);
        $open = self::ids($client->invoices->list(['status' => InvoiceStatus::INVOICE_STATUS_OPEN, 'page_size' => 3]));
        $this->assertSame(array_slice($expected, 0, 4), $open);
    }

    public function testAPayoutQuoteAndTheBalance(): void
    {
        $client = self::client();
        $quote = $client->payouts->quote('1');
        $this->assertSame(['1', '0', '0', false], [$quote->amount, $quote->available, $quote->fee, $quote->covered ?? false]);
        $this->assertSame(['USDT'], array_map(static fn ($a) => $a->asset, $client->balance->get()->assets));
    }

    public function testErrorsAreTypedAndCarryTheReasonCode(): void
    {
        $client = self::client();
        try {
            $client->invoices->create(['amount' => '1.5e3']);
            $this->fail('an exponent amount was accepted');
        } catch (BadRequestException $e) {
            $this->assertSame([400, 3, 'AMOUNT_INVALID', 'amount'], [$e->status, $e->grpcCode, $e->reason, $e->field()]);
        }
        try {
            $client->invoices->get('inv_doesnotexist000000000000');
            $this->fail('a missing invoice was found');
        } catch (NotFoundException $e) {
            $this->assertSame('INVOICE_NOT_FOUND', $e->reason);
        }
        $client->invoices->create(['amount' => '5'], 'php-order-77');
        try {
            $client->invoices->create(['amount' => '6'], 'php-order-77');
            $this->fail('a reused Idempotency-Key with another body was accepted');
        } catch (ConflictException $e) {
            $this->assertSame(['REQUEST_ID_REUSED', 'request_id'], [$e->reason, $e->field()]);
        }
        try {
            (new Client('sk_test_' . str_repeat('A', 32), self::env('STABLEGATE_URL')))->invoices->listPage();
            $this->fail('an unknown key was accepted');
        } catch (AuthenticationException $e) {
            $this->assertSame([401, 'API_KEY_INVALID'], [$e->status, $e->reason]);
        }
        try {
            (new Client(self::env('STABLEGATE_NARROW_KEY'), self::env('STABLEGATE_URL')))->payouts->quote('1');
            $this->fail('a key without payouts:read got a quote');
        } catch (PermissionDeniedException $e) {
            $this->assertSame(['SCOPE_MISSING', 'payouts:read'], [$e->reason, $e->metadata['requiredScope'] ?? null]);
        }
    }

    public function testACreateRetriedWithTheSameIdempotencyKeyReturnsTheSameInvoice(): void
    {
        $client = self::client();
        $first = $client->invoices->create(['amount' => '10.50', 'order_id' => 'php-1001'], 'php-1001');
        $again = $client->invoices->create(['amount' => '10.50', 'order_id' => 'php-1001'], 'php-1001');
        $this->assertSame($first->id, $again->id);
        $this->assertSame([$first->id], self::ids($client->invoices->list(['order_id' => 'php-1001'])));
    }

    public function testALostAnswerIsRetriedWithTheSameIdempotencyKeyAndMakesOneInvoice(): void
    {
        // The proxy (scripted by pytest) loses the first answer, answers the second 503 Retry-After: 0, then a
        // third request (with retries off) gets 503 again.
        $delays = [];
        $flaky = new Client(self::env('STABLEGATE_KEY'), self::env('STABLEGATE_FLAKY_URL'), sleep: function (float $s) use (&$delays): void {
            $delays[] = $s;
        });
        $invoice = $flaky->invoices->create(['amount' => '3', 'order_id' => 'php-lost']);
        $this->assertCount(2, $delays);
        $this->assertSame(0.0, $delays[1], "the 503's Retry-After: 0 is honoured");
        $this->assertSame([$invoice->id], self::ids(self::client()->invoices->list(['order_id' => 'php-lost'])), 'one invoice, not two');
        try {
            (new Client(self::env('STABLEGATE_KEY'), self::env('STABLEGATE_FLAKY_URL'), maxRetries: 0))->balance->get();
            $this->fail('the scripted 503 did not surface');
        } catch (ServiceUnavailableException $e) {
            $this->assertSame(['UNAVAILABLE', true, 0.0], [$e->reason, $e->retryable(), $e->retryAfter()]);
        }
        try {
            // A POST without an Idempotency-Key is not retried: sending it twice could make two invoices.
            (new Client(self::env('STABLEGATE_KEY'), self::env('STABLEGATE_FLAKY_URL')))->request('POST', '/v1/invoices', body: ['amount' => '1']);
            $this->fail('the scripted 503 did not surface');
        } catch (ServiceUnavailableException $e) {
            $this->assertSame('UNAVAILABLE', $e->reason);
        }
    }

    public function testAClientWithoutAKeyOrWithABadBaseUrlIsRefusedAtOnce(): void
    {
        $this->expectException(InvalidArgumentException::class);
        new Client(' ', 'http://127.0.0.1:8080');
    }

    public function testAWebhookSignedByTheDispatcherVerifiesAndATamperedOrStaleOneDoesNot(): void
    {
        $captured = json_decode((string) file_get_contents(self::env('STABLEGATE_DELIVERY_FILE')), true, 512, JSON_THROW_ON_ERROR);
        [$body, $headers, $secret, $publicKey] = [$captured['body'], $captured['headers'], $captured['secret'], $captured['public_key']];
        $event = Webhook::verify($body, $headers, secrets: $secret);
        $this->assertSame(['invoice.created', $captured['invoice_id'], '2026-11-25'], [$event['type'], $event['data']['id'], $event['api_version']]);
        $this->assertSame($headers['webhook-id'], Webhook::verify($body, $headers, publicKeys: $publicKey)['id']);

        $reasons = [];
        $tampered = str_replace('"7"', '"7000"', $body);
        $this->assertNotSame($body, $tampered);
        $sent = (int) $headers['webhook-timestamp'];
        $cases = [
            'tampered v1' => static fn () => Webhook::verify($tampered, $headers, secrets: $secret),
            'tampered v1a' => static fn () => Webhook::verify($tampered, $headers, publicKeys: $publicKey),
            'another secret' => static fn () => Webhook::verify($body, $headers, secrets: 'whsec_' . base64_encode(str_repeat('x', 32))),
            'stale' => static fn () => Webhook::verify($body, $headers, secrets: $secret, now: $sent + 301),
            'early' => static fn () => Webhook::verify($body, $headers, secrets: $secret, now: $sent - 301),
            'headless' => static fn () => Webhook::verify($body, ['webhook-id' => $headers['webhook-id']], secrets: $secret),
        ];
        foreach ($cases as $name => $case) {
            try {
                $case();
                $reasons[$name] = 'verified';
            } catch (WebhookVerificationException $e) {
                $reasons[$name] = $e->reason;
            }
        }
        $this->assertSame([
            'tampered v1' => 'SIGNATURE_INVALID',
            'tampered v1a' => 'SIGNATURE_INVALID',
            'another secret' => 'SIGNATURE_INVALID',
            'stale' => 'TIMESTAMP_TOO_OLD',
            'early' => 'TIMESTAMP_TOO_NEW',
            'headless' => 'HEADERS_MISSING',
        ], $reasons);
    }
}
