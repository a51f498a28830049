"""The signer's rules as plain code: Ethereum encodings, intents, policy, audit chaining (no grpc, no PKCS#11)."""
