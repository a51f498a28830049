"""The signer's own SQLite state: audit log, window counters, nonce guard, approvals, request results."""
