/** This package's version (semantic versioning; see CHANGELOG.md). */
export const VERSION = "0.1.0";
/** The REST API version this SDK speaks (`/v1/...`). */
export const API_VERSION = "v1";
/** The webhook payload version (an endpoint's `api_version`) this SDK's docs and examples are written for. */
export const WEBHOOK_API_VERSION = "2026-11-25";
