<?php

declare(strict_types=1);

namespace Stablegate\Resource;

use Stablegate\Client;
use Stablegate\Model\Invoice;
use Stablegate\Model\ListInvoicesResponse;

/** `/v1/invoices`. */
final class Invoices
{
    public function __construct(private readonly Client $client)
    {
    }

    /**
     * Create an invoice. `$fields` are the body's JSON fields: `amount` (a decimal string in token units, "10.50")
     * and optionally `order_id`, `description`, `metadata`, `ttl` ("3600s"), ... The Idempotency-Key
     * (`$idempotencyKey`, or a fresh one) is the same on every retry, so a retried create never makes a second invoice.
     *
     * @param array<string, mixed> $fields
     */
    public function create(array $fields, ?string $idempotencyKey = null): Invoice
    {
        $key = $idempotencyKey ?? Client::newIdempotencyKey();
        return Invoice::fromArray($this->client->request('POST', '/v1/invoices', body: $fields, headers: ['Idempotency-Key' => $key]));
    }

    /** The invoice as it is now. */
    public function get(string $id): Invoice
    {
        return Invoice::fromArray($this->client->request('GET', '/v1/invoices/' . rawurlencode($id)));
    }

    /**
     * One page, newest first (`next_page_token` null on the last page).
     *
     * @param array<string, scalar|null> $query page_size, page_token, status, order_id, create_time_start, create_time_end
     */
    public function listPage(array $query = []): ListInvoicesResponse
    {
        return ListInvoicesResponse::fromArray($this->client->request('GET', '/v1/invoices', $query));
    }

    /**
     * Every invoice matching the filters, newest first, fetching pages as it goes.
     *
     * @param array<string, scalar|null> $query
     * @return \Generator<int, Invoice>
     */
    public function list(array $query = []): \Generator
    {
        $token = null;
        do {
            $page = $this->listPage(['page_token' => $token] + $query);
            foreach ($page->invoices ?? [] as $invoice) {
                yield $invoice;
            }
            $token = $page->next_page_token ?: null;
        } while ($token !== null);
    }

    /** Cancel an OPEN invoice (a canceled one again is a no-op); otherwise FailedPreconditionException. */
    public function cancel(string $id, ?string $reason = null): Invoice
    {
        $body = $reason === null ? [] : ['reason' => $reason];
        return Invoice::fromArray($this->client->request('POST', '/v1/invoices/' . rawurlencode($id) . ':cancel', body: $body));
    }
}
