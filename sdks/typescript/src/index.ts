/**
 * stablegate's TypeScript/JavaScript SDK: a typed client of the REST API and webhook verification.
 *
 * ```ts
 * import { Stablegate } from "@stablegate/sdk";
 * const client = new Stablegate({ apiKey: "sk_test_...", baseUrl: "https://pay.example.com" });
 * const invoice = await client.invoices.create({ amount: "10.50", order_id: "order-1001" });
 * ```
 */
export * from "./client.js";
export * from "./errors.js";
export * from "./webhooks.js";
export * from "./version.js";
export type { components, operations, paths } from "./generated/schema.js";
