// The TypeScript SDK against the live edge, run by `node --test` (tests/sdks/test_typescript_sdk.py starts the
// stack and passes its URL and merchant keys in the environment).
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";

import {
  AuthenticationError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  PermissionDeniedError,
  ServiceUnavailableError,
  Stablegate,
  WebhookVerificationError,
  WebhookVerifier,
  verifyWebhook,
} from "../dist/index.js";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run this suite through pytest tests/sdks/test_typescript_sdk.py`);
  return value;
};
const baseUrl = env("STABLEGATE_URL");
const client = new Stablegate({ apiKey: env("STABLEGATE_KEY"), baseUrl });

test("create, get, list every page, cancel", async () => {
  const made = [];
  for (let i = 0; i < 5; i++) {
    made.push(await client.invoices.create({ amount: "10.50", order_id: `ts-${i}`, description: "2 coffees" }));
  }
  assert.equal(made[0].status, "INVOICE_STATUS_OPEN");
  assert.deepEqual([made[0].amount, made[0].amount_base_units], ["10.5", "10500000000000000000"]);
  const got = await client.invoices.get(made[2].id);
  assert.deepEqual([got.id, got.order_id, got.deposit_address], [made[2].id, "ts-2", made[2].deposit_address]);

  const first = await client.invoices.listPage({ page_size: 2 });
  assert.equal(first.invoices.length, 2);
  assert.ok(first.next_page_token);
  const listed = [];
  for await (const invoice of client.invoices.list({ page_size: 2 })) listed.push(invoice.id);
  assert.deepEqual(listed, made.map((i) => i.id).reverse(), "every invoice once, newest first, across 3 pages");

  const canceled = await client.invoices.cancel(made[0].id, "customer changed their mind");
  assert.equal(canceled.status, "INVOICE_STATUS_CANCELED");
  assert.equal((await client.invoices.cancel(made[0].id)).status, "INVOICE_STATUS_CANCELED");
  const open = [];
  for await (const invoice of client.invoices.list({ status: "INVOICE_STATUS_OPEN", page_size: 3 })) open.push(invoice.id);
  assert.deepEqual(open, made.slice(1).map((i) => i.id).reverse());
});

test("a client without a key or with a bad base URL is refused at once", () => {
  assert.throws(() => new Stablegate({ apiKey: " ", baseUrl }), /apiKey is empty/);
  assert.throws(() => new Stablegate({ apiKey: "sk_test_x", baseUrl: "127.0.0.1:8080" }), /baseUrl must start/);
  assert.throws(() => new WebhookVerifier({}), /at least one endpoint secret/);
  assert.throws(() => new WebhookVerifier({ secrets: "whsec_not base64!" }), /whsec_ followed by base64/);
});

test("a payout quote and the balance", async () => {
  const quote = await client.payouts.quote("1");
  assert.deepEqual([quote.amount, quote.available, quote.fee, quote.covered ?? false], ["1", "0", "0", false]);
  const balance = await client.balance.get();
  assert.deepEqual(balance.assets.map((a) => a.asset), ["USDT"]);
});

test("errors are typed and carry the reason code", async () => {
  const bad = await client.invoices.create({ amount: "1.5e3" }).catch((e) => e);
  assert.ok(bad instanceof BadRequestError, String(bad));
  assert.deepEqual([bad.status, bad.code, bad.reason, bad.field], [400, 3, "AMOUNT_INVALID", "amount"]);
  const missing = await client.invoices.get("inv_doesnotexist000000000000").catch((e) => e);
  assert.ok(missing instanceof NotFoundError);
  assert.equal(missing.reason, "INVOICE_NOT_FOUND");
  await client.invoices.create({ amount: "5" }, { idempotencyKey: "ts-order-77" });
  const reused = await client.invoices.create({ amount: "6" }, { idempotencyKey: "ts-order-77" }).catch((e) => e);
  assert.ok(reused instanceof ConflictError);
  assert.deepEqual([reused.reason, reused.field], ["REQUEST_ID_REUSED", "request_id"]);
  const stranger = new Stablegate({ apiKey: `sk_test_${"A".repeat(32)}`, baseUrl });
  const unknown = await stranger.invoices.listPage().catch((e) => e);
  assert.ok(unknown instanceof AuthenticationError);
  assert.deepEqual([unknown.status, unknown.reason], [401, "API_KEY_INVALID"]);
  const reader = new Stablegate({ apiKey: env("STABLEGATE_NARROW_KEY"), baseUrl });
  const denied = await reader.payouts.quote("1").catch((e) => e);
  assert.ok(denied instanceof PermissionDeniedError);
  assert.deepEqual([denied.reason, denied.metadata.requiredScope], ["SCOPE_MISSING", "payouts:read"]);
});

test("a create retried with the same Idempotency-Key returns the same invoice", async () => {
  const first = await client.invoices.create({ amount: "10.50", order_id: "ts-1001" }, { idempotencyKey: "ts-1001" });
  const again = await client.invoices.create({ amount: "10.50", order_id: "ts-1001" }, { idempotencyKey: "ts-1001" });
  assert.equal(again.id, first.id);
  const found = [];
  for await (const invoice of client.invoices.list({ order_id: "ts-1001" })) found.push(invoice.id);
  assert.deepEqual(found, [first.id]);
});

test("a lost answer is retried with the same Idempotency-Key and makes one invoice", async () => {
  // The proxy (scripted by pytest) loses the first answer and answers the second with 503 Retry-After: 0.
  const delays = [];
  const flaky = new Stablegate({
    apiKey: env("STABLEGATE_KEY"),
    baseUrl: env("STABLEGATE_FLAKY_URL"),
    sleep: async (ms) => void delays.push(ms),
  });
  const invoice = await flaky.invoices.create({ amount: "3", order_id: "ts-lost" });
  assert.equal(delays.length, 2);
  assert.equal(delays[1], 0, "the 503's Retry-After: 0 is honoured");
  const found = [];
  for await (const inv of client.invoices.list({ order_id: "ts-lost" })) found.push(inv.id);
  assert.deepEqual(found, [invoice.id], "one invoice, not two");
  const exhausted = new Stablegate({
    apiKey: env("STABLEGATE_KEY"),
    baseUrl: env("STABLEGATE_FLAKY_URL"),
    retry: { maxRetries: 0 },
  });
  const unavailable = await exhausted.balance.get().catch((e) => e); // the proxy's script ends with a third 503
  assert.ok(unavailable instanceof ServiceUnavailableError, String(unavailable));
  assert.deepEqual([unavailable.reason, unavailable.retryable, unavailable.retryAfter], ["UNAVAILABLE", true, 0]);
});

let receiver;
const deliveries = [];
const waiters = [];
before(async () => {
  receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) });
      waiters.splice(0).forEach((wake) => wake());
      res.writeHead(200).end("ok");
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
});
after(() => receiver.close());

async function waitFor(type, withinMs = 20000) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const found = deliveries.find((d) => JSON.parse(d.body.toString()).type === type);
    if (found) return found;
    assert.ok(Date.now() < deadline, `no ${type} delivery within ${withinMs} ms`);
    await new Promise((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 500);
    });
  }
}

test("a webhook signed by the dispatcher verifies; a tampered or stale one does not", async () => {
  const url = `http://127.0.0.1:${receiver.address().port}/hook`;
  const endpoint = await client.webhookEndpoints.create({
    url,
    enabled_events: ["invoice.*"],
    signing_algorithms: ["WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256", "WEBHOOK_SIGNING_ALGORITHM_ED25519"],
  });
  assert.ok(endpoint.secret.startsWith("whsec_") && endpoint.signing_public_key.startsWith("whpk_"));
  const invoice = await client.invoices.create({ amount: "7", order_id: "ts-hooked" });
  const delivery = await waitFor("invoice.created");
  const versions = delivery.headers["webhook-signature"].split(" ").map((p) => p.split(",")[0]).sort();
  assert.deepEqual(versions, ["v1", "v1a"]);

  const event = await verifyWebhook(delivery.body, delivery.headers, { secrets: endpoint.secret });
  assert.deepEqual([event.type, event.data.id, event.api_version], ["invoice.created", invoice.id, "2026-11-25"]);
  assert.equal(event.id, delivery.headers["webhook-id"]);
  const byKey = await new WebhookVerifier({ publicKeys: endpoint.signing_public_key }).verify(
    delivery.body.toString(),
    new Headers(delivery.headers),
  );
  assert.equal(byKey.id, event.id);

  const tampered = JSON.parse(delivery.body.toString());
  tampered.data.amount = "7000";
  for (const options of [{ secrets: endpoint.secret }, { publicKeys: endpoint.signing_public_key }]) {
    const forged = await verifyWebhook(JSON.stringify(tampered), delivery.headers, options).catch((e) => e);
    assert.ok(forged instanceof WebhookVerificationError);
    assert.equal(forged.reason, "SIGNATURE_INVALID");
  }
  const other = await verifyWebhook(delivery.body, delivery.headers, { secrets: `whsec_${"A".repeat(43)}=` }).catch(
    (e) => e,
  );
  assert.equal(other.reason, "SIGNATURE_INVALID");
  const sent = Number(delivery.headers["webhook-timestamp"]);
  const stale = await new WebhookVerifier({ secrets: endpoint.secret, now: () => sent + 301 })
    .verify(delivery.body, delivery.headers)
    .catch((e) => e);
  assert.equal(stale.reason, "TIMESTAMP_TOO_OLD");
  const early = await new WebhookVerifier({ secrets: endpoint.secret, now: () => sent - 301 })
    .verify(delivery.body, delivery.headers)
    .catch((e) => e);
  assert.equal(early.reason, "TIMESTAMP_TOO_NEW");
  const headless = await verifyWebhook(delivery.body, { "webhook-id": event.id }, { secrets: endpoint.secret }).catch(
    (e) => e,
  );
  assert.equal(headless.reason, "HEADERS_MISSING");

  await client.webhookEndpoints.sendTest(endpoint.id); // a test event goes to the endpoint whatever its filter
  const testDelivery = await waitFor("webhook.test");
  const testEvent = await verifyWebhook(testDelivery.body, testDelivery.headers, { secrets: endpoint.secret });
  assert.deepEqual(testEvent.data, { test: true, endpoint_id: endpoint.id });
  const listed = [];
  for await (const e of client.webhookEndpoints.list()) listed.push(e.id);
  assert.deepEqual(listed, [endpoint.id]);
  await client.webhookEndpoints.delete(endpoint.id);
  const gone = await client.webhookEndpoints.get(endpoint.id).catch((e) => e);
  assert.ok(gone instanceof NotFoundError);
});
