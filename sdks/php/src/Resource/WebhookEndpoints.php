<?php

declare(strict_types=1);

namespace Stablegate\Resource;

use Stablegate\Client;
use Stablegate\Model\ListWebhookEndpointsResponse;
use Stablegate\Model\WebhookDelivery;
use Stablegate\Model\WebhookEndpoint;

/** `/v1/webhook_endpoints`. */
final class WebhookEndpoints
{
    public function __construct(private readonly Client $client)
    {
    }

    /**
     * Register an endpoint; the answer's `secret` (whsec_...) is shown only here.
     *
     * @param array<string, mixed> $fields url, enabled_events, signing_algorithms, api_version, description
     */
    public function create(array $fields, ?string $idempotencyKey = null): WebhookEndpoint
    {
        $key = $idempotencyKey ?? Client::newIdempotencyKey();
        return WebhookEndpoint::fromArray(
            $this->client->request('POST', '/v1/webhook_endpoints', body: $fields, headers: ['Idempotency-Key' => $key]),
        );
    }

    /** One endpoint (never its secret). */
    public function get(string $id): WebhookEndpoint
    {
        return WebhookEndpoint::fromArray($this->client->request('GET', '/v1/webhook_endpoints/' . rawurlencode($id)));
    }

    /**
     * Every endpoint, page by page.
     *
     * @return \Generator<int, WebhookEndpoint>
     */
    public function list(?int $pageSize = null): \Generator
    {
        $token = null;
        do {
            $page = ListWebhookEndpointsResponse::fromArray(
                $this->client->request('GET', '/v1/webhook_endpoints', ['page_size' => $pageSize, 'page_token' => $token]),
            );
            foreach ($page->webhook_endpoints ?? [] as $endpoint) {
                yield $endpoint;
            }
            $token = $page->next_page_token ?: null;
        } while ($token !== null);
    }

    /** Remove an endpoint. */
    public function delete(string $id): void
    {
        $this->client->request('DELETE', '/v1/webhook_endpoints/' . rawurlencode($id));
    }

    /** Send a `webhook.test` event to this endpoint now. */
    public function sendTest(string $id): WebhookDelivery
    {
        $path = '/v1/webhook_endpoints/' . rawurlencode($id) . ':send_test';
        return WebhookDelivery::fromArray(
            $this->client->request('POST', $path, body: [], headers: ['Idempotency-Key' => Client::newIdempotencyKey()]),
        );
    }
}
