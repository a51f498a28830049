/**
 * Verify webhooks the gateway signs, per Standard Webhooks: `v1` (HMAC-SHA256 with the endpoint's `whsec_` secret)
 * and `v1a` (ed25519 with its `whpk_` public key), with replay protection by timestamp tolerance.
 *
 * Each delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated
 * list of `version,base64-signature` over `<webhook-id>.<webhook-timestamp>.<raw body>`. Verify the raw body
 * exactly as received, before parsing it. Uses Web Crypto, so it runs in browsers, Node 18+, Deno and workers.
 */
import { WebhookVerificationError } from "./errors.js";

/** How far `webhook-timestamp` may be from the receiver's clock, either way (the specification's 5 minutes). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** A verified event: the envelope's fields and the whole parsed body. */
export interface WebhookEvent<Data = Record<string, unknown>> {
  /** `evt_...`, also the `webhook-id` header: deduplicate on it (delivery is at least once). */
  id: string;
  /** The event type, e.g. `invoice.paid`. */
  type: string;
  /** The payload version: the endpoint's pinned `api_version`. */
  api_version: string;
  /** When the event was committed (RFC 3339). */
  created: string;
  /** The event's data, as documented for its type and `api_version`. */
  data: Data;
}

/** Options of `new WebhookVerifier(...)`: at least one secret or public key. */
export interface WebhookVerifierOptions {
  /** The endpoint's `whsec_...` secret(s), for `v1`; during a rotation give the old and the new. */
  secrets?: string | string[];
  /** The endpoint's `whpk_...` public key(s), for `v1a` (ed25519). */
  publicKeys?: string | string[];
  /** Seconds the timestamp may differ from `now()`; default 300. */
  toleranceSeconds?: number;
  /** The current time in Unix seconds (tests pass their own). */
  now?: () => number;
}

type Bytes = Uint8Array<ArrayBuffer>;
type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

function base64ToBytes(value: string): Bytes {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) throw new TypeError("not base64");
  const binary = atob(value);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function decodeKey(value: string, prefix: string, what: string): Bytes {
  try {
    return base64ToBytes(value.startsWith(prefix) ? value.slice(prefix.length) : value);
  } catch {
    throw new TypeError(`${what} is not ${prefix} followed by base64`);
  }
}

async function subtle(): Promise<SubtleCrypto> {
  if (globalThis.crypto?.subtle) return globalThis.crypto.subtle;
  // Node 18 has Web Crypto at node:crypto, not (without a flag) on globalThis.
  const specifier = "node:crypto";
  const nodeCrypto = (await import(specifier)) as { webcrypto: Crypto };
  return nodeCrypto.webcrypto.subtle;
}

const asList = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Verifies deliveries for one endpoint: a delivery passes when any signature verifies with any key given. */
export class WebhookVerifier {
  readonly #secrets: Bytes[];
  readonly #publicKeys: Bytes[];
  readonly #tolerance: number;
  readonly #now: () => number;

  constructor(options: WebhookVerifierOptions) {
    const secrets = asList(options.secrets);
    const publicKeys = asList(options.publicKeys);
    if (secrets.length === 0 && publicKeys.length === 0) {
      throw new TypeError("give at least one endpoint secret (whsec_...) or public key (whpk_...)");
    }
    this.#secrets = secrets.map((s) => decodeKey(s, "whsec_", "a webhook secret"));
    this.#publicKeys = publicKeys.map((k) => decodeKey(k, "whpk_", "a webhook public key"));
    this.#tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
    if (!(this.#tolerance > 0)) throw new TypeError("toleranceSeconds must be positive");
    this.#now = options.now ?? (() => Date.now() / 1000);
  }

  /**
   * The event, if the delivery is genuine and fresh; otherwise a `WebhookVerificationError` with a `reason`:
   * `HEADERS_MISSING`, `TIMESTAMP_INVALID`, `TIMESTAMP_TOO_OLD`, `TIMESTAMP_TOO_NEW`, `SIGNATURE_INVALID` or
   * `PAYLOAD_INVALID`.
   */
  async verify<Data = Record<string, unknown>>(
    body: string | Uint8Array,
    headers: HeaderSource,
  ): Promise<WebhookEvent<Data>> {
    const raw = typeof body === "string" ? new TextEncoder().encode(body) : body;
    const id = header(headers, "webhook-id");
    const stamp = header(headers, "webhook-timestamp");
    const signatures = header(headers, "webhook-signature");
    if (!id || !stamp || !signatures) {
      throw new WebhookVerificationError(
        "HEADERS_MISSING",
        "webhook-id, webhook-timestamp and webhook-signature are all required",
      );
    }
    if (!/^\d+$/.test(stamp)) throw new WebhookVerificationError("TIMESTAMP_INVALID", "webhook-timestamp is not Unix seconds");
    const sent = Number(stamp);
    const now = this.#now();
    if (sent < now - this.#tolerance) {
      throw new WebhookVerificationError("TIMESTAMP_TOO_OLD", "webhook-timestamp is too old: a replay, or a slow clock");
    }
    if (sent > now + this.#tolerance) {
      throw new WebhookVerificationError("TIMESTAMP_TOO_NEW", "webhook-timestamp is in the future: check the clock");
    }
    const prefix = new TextEncoder().encode(`${id}.${stamp}.`);
    const signed = new Uint8Array(prefix.length + raw.length);
    signed.set(prefix);
    signed.set(raw, prefix.length);
    if (!(await this.#anySignatureValid(signed, signatures))) {
      throw new WebhookVerificationError("SIGNATURE_INVALID", "no signature verified with the given keys");
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      throw new WebhookVerificationError("PAYLOAD_INVALID", "the signed body is not JSON");
    }
    const event = parsed as Partial<WebhookEvent<Data>>;
    if (typeof event?.id !== "string" || typeof event.type !== "string") {
      throw new WebhookVerificationError("PAYLOAD_INVALID", "the signed body is not an event envelope");
    }
    return event as WebhookEvent<Data>;
  }

  async #anySignatureValid(signed: Bytes, headerValue: string): Promise<boolean> {
    const crypto = await subtle();
    for (const part of headerValue.split(" ")) {
      const comma = part.indexOf(",");
      if (comma < 0) continue;
      const version = part.slice(0, comma);
      let signature: Bytes;
      try {
        signature = base64ToBytes(part.slice(comma + 1));
      } catch {
        continue;
      }
      if (version === "v1") {
        for (const secret of this.#secrets) {
          const key = await crypto.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
          // subtle.verify compares in constant time.
          if (await crypto.verify("HMAC", key, signature, signed)) return true;
        }
      } else if (version === "v1a") {
        for (const publicKey of this.#publicKeys) {
          const key = await crypto.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
          if (await crypto.verify({ name: "Ed25519" }, key, signature, signed)) return true;
        }
      }
    }
    return false;
  }
}

/** Verify one delivery in one call (see `WebhookVerifier`). */
export async function verifyWebhook<Data = Record<string, unknown>>(
  body: string | Uint8Array,
  headers: HeaderSource,
  options: WebhookVerifierOptions,
): Promise<WebhookEvent<Data>> {
  return new WebhookVerifier(options).verify<Data>(body, headers);
}
