// A minimal shop on @stablegate/sdk: an invoice at checkout, a redirect to the hosted checkout page, and the
// order fulfilled on the verified `invoice.paid` webhook.
//
//   STABLEGATE_URL=http://127.0.0.1:8080 STABLEGATE_KEY=sk_test_... STABLEGATE_WEBHOOK_SECRET=whsec_... \
//     SHOP_PORT=8000 node shop.mjs
//
// GET /buy/<item>: makes an order, creates its invoice (the order id as the Idempotency-Key) and answers 303 to
// the invoice's checkout_url. POST /webhooks/stablegate: verifies the delivery (400 when it does not verify) and
// on invoice.paid reads the invoice back and fulfils its order, once. GET /orders/<id>: the order as JSON.
// Orders live in memory: a real shop keeps them in its database.
import { randomBytes } from "node:crypto";
import http from "node:http";

import { Stablegate, StablegateError, WebhookVerificationError, WebhookVerifier } from "@stablegate/sdk";

const CATALOGUE = { coffee: "4.50", mug: "12" }; // USDT, as decimal strings: never floats

const client = new Stablegate({ apiKey: process.env.STABLEGATE_KEY, baseUrl: process.env.STABLEGATE_URL });
const verifier = new WebhookVerifier({ secrets: process.env.STABLEGATE_WEBHOOK_SECRET });
const orders = new Map();
const handledEvents = new Set();

async function checkout(item) {
  const order = { id: `order_${randomBytes(6).toString("hex")}`, item, amount: CATALOGUE[item], status: "awaiting_payment" };
  const invoice = await client.invoices.create(
    { amount: order.amount, order_id: order.id, description: `1 ${item}` },
    { idempotencyKey: order.id },
  );
  order.invoice_id = invoice.id;
  orders.set(order.id, order);
  return { order, checkoutUrl: invoice.checkout_url };
}

async function webhook(body, headers) {
  let event;
  try {
    event = await verifier.verify(body, headers);
  } catch (e) {
    if (e instanceof WebhookVerificationError) return 400;
    throw e;
  }
  if (handledEvents.has(event.id)) return 200; // delivery is at least once
  if (event.type === "invoice.paid") {
    const invoice = await client.invoices.get(event.data.id); // the API is the source of truth
    const order = [...orders.values()].find((o) => o.invoice_id === invoice.id);
    if (order && invoice.status === "INVOICE_STATUS_PAID") order.status = "fulfilled";
  }
  handledEvents.add(event.id);
  return 200;
}

const server = http.createServer(async (req, res) => {
  const reply = (status, body, location) => {
    res.writeHead(status, { "content-type": "application/json", ...(location ? { location } : {}) });
    res.end(body === undefined ? "" : JSON.stringify(body));
  };
  const [kind, name] = req.url.replace(/^\/+/, "").split("/");
  try {
    if (req.method === "GET" && kind === "buy" && name in CATALOGUE) {
      const { order, checkoutUrl } = await checkout(name);
      reply(303, { order_id: order.id }, checkoutUrl);
    } else if (req.method === "GET" && kind === "orders" && orders.has(name)) {
      reply(200, orders.get(name));
    } else if (req.method === "POST" && req.url === "/webhooks/stablegate") {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      reply(await webhook(Buffer.concat(chunks), req.headers));
    } else {
      reply(404, { error: "not found" });
    }
  } catch (e) {
    reply(e instanceof StablegateError ? 502 : 500, { error: String(e) });
  }
});

server.listen(Number(process.env.SHOP_PORT ?? 8000), "127.0.0.1", () => {
  console.log(`shop listening on http://127.0.0.1:${server.address().port}`);
});
