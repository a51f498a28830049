<?php

// A minimal shop on the stablegate PHP SDK: an invoice at checkout, a redirect to the hosted checkout page, and the
// order fulfilled on the verified `invoice.paid` webhook. Run it with PHP's built-in server as the router:
//
//   STABLEGATE_URL=http://127.0.0.1:8080 STABLEGATE_KEY=sk_test_... STABLEGATE_WEBHOOK_SECRET=whsec_... \
//     SHOP_DATA_DIR=/tmp/shop php -S 127.0.0.1:8000 shop.php
//
// GET /buy/<item>: makes an order, creates its invoice (the order id as the Idempotency-Key) and answers 303 to
// the invoice's checkout_url. POST /webhooks/stablegate: verifies the delivery (400 when it does not verify) and on
// invoice.paid reads the invoice back and fulfils its order, once. GET /orders/<id>: the order as JSON.
// Orders are kept in a JSON file (each request is its own PHP run): a real shop keeps them in its database.

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use Stablegate\Client;
use Stablegate\Model\InvoiceStatus;
use Stablegate\StablegateException;
use Stablegate\Webhook;
use Stablegate\WebhookVerificationException;

const CATALOGUE = ['coffee' => '4.50', 'mug' => '12']; // USDT, as decimal strings: never floats

/** Run $change on the stored state under an exclusive lock; what it returns. */
function with_state(callable $change): mixed
{
    $dir = getenv('SHOP_DATA_DIR') ?: sys_get_temp_dir();
    $handle = fopen($dir . '/shop-state.json', 'c+');
    flock($handle, LOCK_EX);
    $state = json_decode(stream_get_contents($handle) ?: '{"orders": {}, "events": {}}', true);
    $result = $change($state);
    ftruncate($handle, 0);
    rewind($handle);
    fwrite($handle, json_encode($state));
    flock($handle, LOCK_UN);
    fclose($handle);
    return $result;
}

function reply(int $status, mixed $body = null, ?string $location = null): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    if ($location !== null) {
        header("Location: {$location}");
    }
    echo $body === null ? '' : json_encode($body);
}

$client = new Client((string) getenv('STABLEGATE_KEY'), (string) getenv('STABLEGATE_URL'));
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$method = $_SERVER['REQUEST_METHOD'];

try {
    if ($method === 'GET' && preg_match('#^/buy/(\w+)$#', $path, $m) && isset(CATALOGUE[$m[1]])) {
        $order = ['id' => 'order_' . bin2hex(random_bytes(6)), 'item' => $m[1], 'amount' => CATALOGUE[$m[1]], 'status' => 'awaiting_payment'];
        $invoice = $client->invoices->create(
            ['amount' => $order['amount'], 'order_id' => $order['id'], 'description' => "1 {$m[1]}"],
            $order['id'],
        );
        $order['invoice_id'] = $invoice->id;
        with_state(function (array &$state) use ($order): void {
            $state['orders'][$order['id']] = $order;
        });
        reply(303, ['order_id' => $order['id']], $invoice->checkout_url);
    } elseif ($method === 'GET' && preg_match('#^/orders/(\w+)$#', $path, $m)) {
        $order = with_state(fn (array &$state): ?array => $state['orders'][$m[1]] ?? null);
        $order === null ? reply(404, ['error' => 'not found']) : reply(200, $order);
    } elseif ($method === 'POST' && $path === '/webhooks/stablegate') {
        try {
            $event = Webhook::verify((string) file_get_contents('php://input'), getallheaders(), secrets: (string) getenv('STABLEGATE_WEBHOOK_SECRET'));
        } catch (WebhookVerificationException) {
            reply(400, ['error' => 'signature']);
            return true;
        }
        $invoice = $event['type'] === 'invoice.paid' ? $client->invoices->get((string) $event['data']['id']) : null; // the API is the source of truth
        with_state(function (array &$state) use ($event, $invoice): void {
            if (isset($state['events'][$event['id']])) {
                return; // delivery is at least once
            }
            foreach ($state['orders'] as $id => $order) {
                if ($invoice !== null && $order['invoice_id'] === $invoice->id && $invoice->status === InvoiceStatus::INVOICE_STATUS_PAID) {
                    $state['orders'][$id]['status'] = 'fulfilled';
                }
            }
            $state['events'][$event['id']] = true;
        });
        reply(200, ['ok' => true]);
    } else {
        reply(404, ['error' => 'not found']);
    }
} catch (StablegateException $e) {
    reply(502, ['error' => $e->getMessage()]);
}
return true;
