/**
 * The client: `new Stablegate({ apiKey, baseUrl })`, with resources `invoices`, `payouts`, `balance` and
 * `webhookEndpoints`, retries that keep the Idempotency-Key, pagination iterators and typed errors.
 *
 * Every operation of the API is also reachable, fully typed, through `client.raw` (an `openapi-fetch` client
 * over the generated `paths`), which shares the same auth and retries.
 */
import createClient, { type Client } from "openapi-fetch";

import { ApiConnectionError, RETRYABLE_STATUSES, errorFromResponse, parseRetryAfter } from "./errors.js";
import type { components, operations, paths } from "./generated/schema.js";
import { VERSION } from "./version.js";

type Schemas = components["schemas"];
/** An invoice, as the API returns it (fields at their default are left out). */
export type Invoice = Schemas["Invoice"];
/** The body of `POST /v1/invoices`. */
export type CreateInvoiceRequest = Schemas["CreateInvoiceRequest"];
/** One page of `GET /v1/invoices`. */
export type ListInvoicesResponse = Schemas["ListInvoicesResponse"];
/** An invoice status (`INVOICE_STATUS_OPEN`, ...). */
export type InvoiceStatus = Schemas["InvoiceStatus"];
/** The answer of `GET /v1/payouts:quote`. */
export type PayoutQuote = Schemas["PayoutQuote"];
/** The merchant's balance. */
export type Balance = Schemas["Balance"];
/** A webhook endpoint (its `secret` only in the create answer). */
export type WebhookEndpoint = Schemas["WebhookEndpoint"];
/** The body of `POST /v1/webhook_endpoints`. */
export type CreateWebhookEndpointRequest = Schemas["CreateWebhookEndpointRequest"];
/** One webhook delivery. */
export type WebhookDelivery = Schemas["WebhookDelivery"];
/** The filters of `GET /v1/invoices`. */
export type ListInvoicesQuery = NonNullable<operations["InvoiceService_ListInvoices"]["parameters"]["query"]>;

/** How failed calls are retried: connection failures and 429/503/504, for retry-safe calls only. */
export interface RetryPolicy {
  /** Retries after the first attempt (0 turns retrying off). Default 2. */
  maxRetries: number;
  /** The first retry's delay in milliseconds, doubling each time (with jitter). Default 500. */
  backoffMs: number;
  /** The longest computed delay, milliseconds. Default 8000. */
  maxBackoffMs: number;
  /** The longest `Retry-After` honoured, milliseconds. Default 60000. */
  maxRetryAfterMs: number;
}

/** Options of `new Stablegate(...)`. */
export interface StablegateOptions {
  /** The merchant's API key (`sk_test_...` or `sk_live_...`). */
  apiKey: string;
  /** Where the gateway's edge is, e.g. `https://pay.example.com`. */
  baseUrl: string;
  /** Retry settings (defaults above). */
  retry?: Partial<RetryPolicy>;
  /** The fetch to use (default: the global one). */
  fetch?: (request: Request) => Promise<Response>;
  /** How to wait between retries (tests pass their own). */
  sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_RETRY: RetryPolicy = { maxRetries: 2, backoffMs: 500, maxBackoffMs: 8000, maxRetryAfterMs: 60000 };

/** A fresh Idempotency-Key, made once per create call and sent on every retry of it. */
export function newIdempotencyKey(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return `sdk_${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** A read, a write carrying an Idempotency-Key, or a cancel (canceling twice is a no-op): safe to send twice. */
function retrySafe(request: Request): boolean {
  if (request.method === "GET" || request.method === "DELETE") return true;
  return request.headers.has("idempotency-key") || new URL(request.url).pathname.endsWith(":cancel");
}

/** A client of the stablegate REST API for one merchant key. */
export class Stablegate {
  /** The `openapi-fetch` client over the generated paths: every operation, typed. */
  readonly raw: Client<paths>;
  /** Create, get, list, cancel invoices. */
  readonly invoices: Invoices;
  /** Payout quotes. */
  readonly payouts: Payouts;
  /** The merchant's balance. */
  readonly balance: BalanceResource;
  /** Webhook endpoints. */
  readonly webhookEndpoints: WebhookEndpoints;
  /** The retry settings in use. */
  readonly retry: RetryPolicy;
  readonly #fetch: (request: Request) => Promise<Response>;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: StablegateOptions) {
    const apiKey = options.apiKey?.trim();
    if (!apiKey) throw new TypeError("apiKey is empty: pass the merchant's API key (sk_test_... or sk_live_...)");
    if (!/^https?:\/\//.test(options.baseUrl ?? "")) {
      throw new TypeError(`baseUrl must start with http:// or https://, got ${JSON.stringify(options.baseUrl)}`);
    }
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#fetch = options.fetch ?? ((request) => globalThis.fetch(request));
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    const headers: Record<string, string> = { Authorization: `Bearer ${apiKey}` };
    // Browsers refuse to set User-Agent; elsewhere it names the SDK in the gateway's logs.
    if (typeof window === "undefined") headers["User-Agent"] = `stablegate-sdk-js/${VERSION}`;
    this.raw = createClient<paths>({
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
      headers,
      fetch: (request) => this.#send(request),
    });
    this.invoices = new Invoices(this);
    this.payouts = new Payouts(this);
    this.balance = new BalanceResource(this);
    this.webhookEndpoints = new WebhookEndpoints(this);
  }

  /** Send with retries: the same Request (so the same Idempotency-Key) on every attempt. */
  async #send(request: Request): Promise<Response> {
    const safe = retrySafe(request);
    for (let attempt = 0; ; attempt++) {
      let response: Response | undefined;
      try {
        response = await this.#fetch(request.clone());
      } catch (cause) {
        if (!safe || attempt >= this.retry.maxRetries) {
          throw new ApiConnectionError(`${request.method} ${request.url}: ${String(cause)}`);
        }
      }
      if (response !== undefined) {
        if (!safe || !RETRYABLE_STATUSES.has(response.status) || attempt >= this.retry.maxRetries) return response;
        await response.body?.cancel();
      }
      await this.#sleep(this.#delay(attempt, response));
    }
  }

  #delay(attempt: number, response: Response | undefined): number {
    const asked = response === undefined ? undefined : parseRetryAfter(response.headers);
    if (asked !== undefined) return Math.min(asked * 1000, this.retry.maxRetryAfterMs);
    const computed = Math.min(this.retry.maxBackoffMs, this.retry.backoffMs * 2 ** attempt);
    return computed * (0.5 + Math.random() / 2);
  }
}

/** The data of a 200 answer, or the typed error. */
function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok) return result.data as T;
  throw errorFromResponse(result.response.status, result.response.headers, result.error);
}

/** `/v1/invoices`. */
export class Invoices {
  constructor(private readonly client: Stablegate) {}

  /**
   * Create an invoice. `amount` is a decimal string in token units ("10.50"). The Idempotency-Key (`idempotencyKey`,
   * or a fresh one) is the same on every retry, so a retried create never makes a second invoice.
   */
  async create(
    request: CreateInvoiceRequest & { amount: string },
    options: { idempotencyKey?: string } = {},
  ): Promise<Invoice> {
    const key = options.idempotencyKey ?? newIdempotencyKey();
    return unwrap(
      await this.client.raw.POST("/v1/invoices", { body: request, params: { header: { "Idempotency-Key": key } } }),
    );
  }

  /** The invoice as it is now. */
  async get(id: string): Promise<Invoice> {
    return unwrap(await this.client.raw.GET("/v1/invoices/{id}", { params: { path: { id } } }));
  }

  /** One page of invoices, newest first (`next_page_token` absent on the last page). */
  async listPage(query: ListInvoicesQuery = {}): Promise<ListInvoicesResponse> {
    return unwrap(await this.client.raw.GET("/v1/invoices", { params: { query } }));
  }

  /** Every invoice matching the filters, newest first, fetching pages as it goes: `for await (const inv of ...)`. */
  async *list(query: Omit<ListInvoicesQuery, "page_token"> = {}): AsyncGenerator<Invoice, void, undefined> {
    let pageToken: string | undefined;
    do {
      const page = await this.listPage(pageToken ? { ...query, page_token: pageToken } : query);
      yield* page.invoices ?? [];
      pageToken = page.next_page_token ?? undefined;
    } while (pageToken);
  }

  /** Cancel an OPEN invoice (a canceled one again is a no-op); otherwise `FailedPreconditionError`. */
  async cancel(id: string, reason?: string): Promise<Invoice> {
    const body = reason === undefined ? {} : { reason };
    return unwrap(await this.client.raw.POST("/v1/invoices/{id}:cancel", { params: { path: { id } }, body }));
  }
}

/** `/v1/payouts`. */
export class Payouts {
  constructor(private readonly client: Stablegate) {}

  /** What a payout of `amount` would cost now, and whether the available balance covers it. */
  async quote(amount?: string, asset?: "USDT"): Promise<PayoutQuote> {
    const query = { ...(amount === undefined ? {} : { amount }), ...(asset === undefined ? {} : { asset }) };
    return unwrap(await this.client.raw.GET("/v1/payouts:quote", { params: { query } }));
  }
}

/** `/v1/balance`. */
export class BalanceResource {
  constructor(private readonly client: Stablegate) {}

  /** The merchant's balance per asset. */
  async get(): Promise<Balance> {
    return unwrap(await this.client.raw.GET("/v1/balance", {}));
  }
}

/** `/v1/webhook_endpoints`. */
export class WebhookEndpoints {
  constructor(private readonly client: Stablegate) {}

  /** Register an endpoint; the answer's `secret` (`whsec_...`) is shown only here. */
  async create(
    request: CreateWebhookEndpointRequest & { url: string },
    options: { idempotencyKey?: string } = {},
  ): Promise<WebhookEndpoint> {
    const key = options.idempotencyKey ?? newIdempotencyKey();
    return unwrap(
      await this.client.raw.POST("/v1/webhook_endpoints", {
        body: request,
        params: { header: { "Idempotency-Key": key } },
      }),
    );
  }

  /** One endpoint (never its secret). */
  async get(id: string): Promise<WebhookEndpoint> {
    return unwrap(await this.client.raw.GET("/v1/webhook_endpoints/{id}", { params: { path: { id } } }));
  }

  /** Every endpoint, page by page. */
  async *list(pageSize?: number): AsyncGenerator<WebhookEndpoint, void, undefined> {
    let pageToken: string | undefined;
    do {
      const query = {
        ...(pageSize === undefined ? {} : { page_size: pageSize }),
        ...(pageToken ? { page_token: pageToken } : {}),
      };
      const page = unwrap(await this.client.raw.GET("/v1/webhook_endpoints", { params: { query } }));
      yield* page.webhook_endpoints ?? [];
      pageToken = page.next_page_token ?? undefined;
    } while (pageToken);
  }

  /** Remove an endpoint. */
  async delete(id: string): Promise<void> {
    unwrap(await this.client.raw.DELETE("/v1/webhook_endpoints/{id}", { params: { path: { id } } }));
  }

  /** Send a `webhook.test` event to this endpoint now. */
  async sendTest(id: string): Promise<WebhookDelivery> {
    return unwrap(
      await this.client.raw.POST("/v1/webhook_endpoints/{id}:send_test", {
        params: { path: { id }, header: { "Idempotency-Key": newIdempotencyKey() } },
        body: {},
      }),
    );
  }
}
