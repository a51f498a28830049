-- ed25519 (`v1a`) signing for webhook endpoints (the Webhooks issue): which schemes an endpoint signs with, its
-- private key sealed like the HMAC secret (AES-GCM, key from config), its public key, and during a rotation the
-- previous private key (until previous_secret_expire_time, shared with the HMAC secret's overlap).

ALTER TABLE ledger.webhook_endpoints
    ADD COLUMN signing_algorithms text[] NOT NULL DEFAULT '{v1}'
        CHECK (signing_algorithms <@ ARRAY['v1', 'v1a'] AND cardinality(signing_algorithms) >= 1),
    ADD COLUMN signing_key_sealed bytea,
    ADD COLUMN signing_public_key text NOT NULL DEFAULT '',
    ADD COLUMN previous_signing_key_sealed bytea,
    ADD CONSTRAINT webhook_endpoints_ed25519_key
        CHECK (('v1a' = ANY (signing_algorithms)) = (signing_key_sealed IS NOT NULL));
